package cli

import (
	"context"

	"github.com/steward-rmm/steward/internal/agent/ipc"
	wd "github.com/steward-rmm/steward/internal/agent/watchdog"
)

// ipcHealth is the watchdog's health call over the local IPC channel, one
// connection per call.
type ipcHealth struct{ endpoint string }

var _ wd.HealthChecker = ipcHealth{}

// Health returns nil only when the agent answers that it is well. Every
// other outcome is a miss: hung (unhealthy), a handler timeout, no answer,
// and also busy, forbidden, any other refusal and a server of another
// account (ipc.ErrImpostor), which the watchdog cannot tell from an agent
// that does not serve it: a local user holding the endpoint's slots, or
// squatting its name, must not make a dead agent look well.
func (h ipcHealth) Health(ctx context.Context) error {
	c, err := dialLocal(ctx, h.endpoint)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctx, ipc.MethodHealth, nil, nil)
}
