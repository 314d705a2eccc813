package hub

import (
	"context"
	"fmt"

	"github.com/steward-rmm/steward/internal/protocol"
)

// ScheduleHandler runs the scheduled scripts agents report due: it checks
// the due against the agent's policy and answers with the run's job or
// why it refused it. An error is a failure of the server's: the agent is
// told and sends the due again later.
type ScheduleHandler interface {
	ScheduleDue(ctx context.Context, c *Conn, d protocol.ScheduleDue) (protocol.ScheduleAck, error)
}

// SetScheduleHandler installs the schedule handler. Call it before serving.
func (h *Hub) SetScheduleHandler(sh ScheduleHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.schedules = sh
}

func (h *Hub) scheduleHandler() ScheduleHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.schedules
}

// handleScheduleDue answers a schedule_due with a schedule_ack.
func (h *Hub) handleScheduleDue(ctx context.Context, c *Conn, env protocol.Envelope) error {
	sh := h.scheduleHandler()
	if sh == nil {
		h.sendError(ctx, c, protocol.CodeUnknownType, "this server does not run scheduled scripts", env.ID)
		return nil
	}
	d, err := protocol.DecodeScheduleDue(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_schedule_due", env, err)
	}
	ack, err := sh.ScheduleDue(ctx, c, d)
	if err != nil {
		h.log.Error("run a scheduled script", "agent_id", c.AgentID, "schedule", d.Name, "occurrence", d.Occurrence, "err", err)
		h.sendError(ctx, c, codeServerError, "scheduled run not taken because of a server error; send it again", env.ID)
		return nil
	}
	if err := h.send(ctx, c, protocol.TypeScheduleAck, env.ID, ack); err != nil {
		return fmt.Errorf("acknowledge schedule_due: %w", err)
	}
	return nil
}
