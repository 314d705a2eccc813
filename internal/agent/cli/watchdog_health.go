package cli

import (
	"context"
	"os"

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
	owner, err := watchdogOwner()
	if err != nil {
		return err
	}
	c, err := ipc.Dial(ctx, h.endpoint, owner)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctx, ipc.MethodHealth, nil, nil)
}

// watchdogOwner is the account the watchdog expects the agent's endpoint
// served by: its own (ipcOwnerEnv overrides it). Both services run as
// LocalSystem or root, and in supervisor mode the watchdog starts the
// agent itself, so the agent always runs as the watchdog does; under wine,
// where services run as the wine user, this still holds.
func watchdogOwner() (ipc.Owner, error) {
	if os.Getenv(ipcOwnerEnv) != "" {
		return ipcOwner()
	}
	return ipc.CurrentOwner()
}
