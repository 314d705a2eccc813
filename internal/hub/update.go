package hub

import (
	"context"

	"github.com/steward-rmm/steward/internal/protocol"
)

// UpdateHandler confirms the update an agent reports in its hello and
// records the steps agents report. The updates service implements it.
type UpdateHandler interface {
	// Confirm records the hello's pending update (Facts.Update) when the
	// agent runs its new version and returns the release ID to confirm in
	// the welcome, or "".
	Confirm(ctx context.Context, c *Conn, f protocol.Facts) (string, error)
	// Status records one step of an update.
	Status(ctx context.Context, c *Conn, s protocol.UpdateStatus) error
}

// SetUpdateHandler installs the update handler. Call it before serving.
func (h *Hub) SetUpdateHandler(uh UpdateHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = uh
}

func (h *Hub) updateHandler() UpdateHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.updates
}

// confirmUpdate asks the handler to confirm a hello's pending update. On a
// failure the welcome goes without the confirmation: the agent reports the
// update again on its next connection, before its deadline or not (then
// its watchdog rolls back, which is the safe side).
func (h *Hub) confirmUpdate(ctx context.Context, c *Conn, f protocol.Facts) string {
	uh := h.updateHandler()
	if uh == nil {
		return ""
	}
	id, err := uh.Confirm(ctx, c, f)
	if err != nil {
		h.log.Error("confirm agent update", "agent_id", c.AgentID, "release_id", f.Update.ReleaseID, "err", err)
		return ""
	}
	return id
}

// handleUpdateStatus records a step an agent reports. Nothing is sent
// back: a report lost to a server error is followed by the next step's.
func (h *Hub) handleUpdateStatus(ctx context.Context, c *Conn, env protocol.Envelope) error {
	uh := h.updateHandler()
	if uh == nil {
		h.sendError(ctx, c, protocol.CodeUnknownType, "this server does not take update reports", env.ID)
		return nil
	}
	st, err := protocol.DecodeUpdateStatus(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_update_status", env, err)
	}
	if err := uh.Status(ctx, c, st); err != nil {
		h.log.Error("record agent update status", "agent_id", c.AgentID, "release_id", st.ReleaseID, "step", st.Step, "err", err)
	}
	return nil
}
