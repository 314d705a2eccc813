package hub

import (
	"context"

	"github.com/steward-rmm/steward/internal/protocol"
)

// ScriptHandler records what agents report of the scripts they run: a
// run's start and its output. The jobs service implements it; results
// come as command results.
type ScriptHandler interface {
	ScriptStarted(ctx context.Context, c *Conn, s protocol.ScriptStarted) error
	ScriptOutput(ctx context.Context, c *Conn, o protocol.ScriptOutput) error
}

// SetScriptHandler installs the script handler. Call it before serving.
func (h *Hub) SetScriptHandler(sh ScriptHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scripts = sh
}

func (h *Hub) scriptHandler() ScriptHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scripts
}

// handleScript records a run's start or a piece of its output. Nothing is
// sent back: output lost to a server error is asked for again once the
// run's result says how much there was.
func (h *Hub) handleScript(ctx context.Context, c *Conn, env protocol.Envelope) error {
	sh := h.scriptHandler()
	if sh == nil {
		h.sendError(ctx, c, protocol.CodeUnknownType, "this server does not take script reports", env.ID)
		return nil
	}
	switch env.Type {
	case protocol.TypeScriptStarted:
		st, err := protocol.DecodeScriptStarted(env.Data)
		if err != nil {
			return h.reject(ctx, c, "bad_script_started", env, err)
		}
		if err := sh.ScriptStarted(ctx, c, st); err != nil {
			h.log.Error("record a script's start", "agent_id", c.AgentID, "command_id", st.CommandID, "err", err)
		}
	default:
		o, err := protocol.DecodeScriptOutput(env.Data)
		if err != nil {
			return h.reject(ctx, c, "bad_script_output", env, err)
		}
		if err := sh.ScriptOutput(ctx, c, o); err != nil {
			h.log.Error("store a script's output", "agent_id", c.AgentID, "command_id", o.CommandID, "err", err)
		}
	}
	return nil
}
