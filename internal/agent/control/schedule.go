package control

import (
	"context"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Schedules holds the dues of the policy's scheduled scripts until the
// server answers them (a schedule.Scheduler).
type Schedules interface {
	// Pending returns the dues waiting for an answer.
	Pending() []protocol.ScheduleDue
	// Ready is signalled when a due is added.
	Ready() <-chan struct{}
	// Acked takes the server's answer.
	Acked(ctx context.Context, a protocol.ScheduleAck)
}

// sendDues sends each pending due not yet sent on this connection; one
// the server has not answered goes again on the next connection.
func (s *session) sendDues(ctx context.Context) error {
	if s.c.opts.Schedules == nil {
		return nil
	}
	for _, d := range s.c.opts.Schedules.Pending() {
		key := d.Name + "@" + d.Occurrence
		if s.duesSent[key] {
			continue
		}
		if err := s.send(ctx, protocol.TypeScheduleDue, d); err != nil {
			return err
		}
		if s.duesSent == nil {
			s.duesSent = map[string]bool{}
		}
		s.duesSent[key] = true
		s.c.opts.Log.InfoContext(ctx, "sent scheduled run", "schedule", d.Name, "occurrence", d.Occurrence)
	}
	return nil
}

// onScheduleAck hands the server's answer to a due to the schedules.
func (s *session) onScheduleAck(ctx context.Context, env protocol.Envelope) {
	a, err := protocol.DecodeScheduleAck(env.Data)
	if err != nil {
		s.c.opts.Log.WarnContext(ctx, "ignoring malformed schedule_ack", "err", err)
		return
	}
	if s.c.opts.Schedules != nil {
		s.c.opts.Schedules.Acked(ctx, a)
	}
}

// schedulesReady is Schedules.Ready, or nil (never ready) without
// schedules.
func (c *Client) schedulesReady() <-chan struct{} {
	if c.opts.Schedules == nil {
		return nil
	}
	return c.opts.Schedules.Ready()
}
