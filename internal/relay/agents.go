package relay

import (
	"context"
	"time"

	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/protocol"
)

// HubAgents sends commands over the control connections a hub holds.
type HubAgents struct{ Hub *hub.Hub }

var _ Agents = HubAgents{}

// SendCommand implements Agents.
func (h HubAgents) SendCommand(ctx context.Context, agentID string, cmd protocol.Command) error {
	c, ok := h.Hub.Lookup(agentID)
	if !ok {
		return ErrOffline
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Send(ctx, protocol.TypeCommand, "", cmd)
}
