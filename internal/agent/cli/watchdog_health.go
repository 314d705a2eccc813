package cli

import (
	"context"
	"errors"

	"github.com/steward-rmm/steward/internal/agent/ipc"
	wd "github.com/steward-rmm/steward/internal/agent/watchdog"
)

// ipcHealth is the watchdog's health call over the local IPC channel, one
// connection per call.
type ipcHealth struct{ endpoint string }

var _ wd.HealthChecker = ipcHealth{}

// Health returns nil when the agent answers that it is well, or answers
// with an error that does not mean it is hung (forbidden, busy: restarting
// it would not help). Unhealthy (its control loop is stuck), a handler
// timeout, and no answer at all are misses.
func (h ipcHealth) Health(ctx context.Context) error {
	c, err := ipc.Dial(ctx, h.endpoint)
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Call(ctx, ipc.MethodHealth, nil, nil)
	var re *ipc.RemoteError
	if errors.As(err, &re) && !errors.Is(err, ipc.ErrUnhealthy) && !errors.Is(err, ipc.ErrTimeout) {
		return nil
	}
	return err
}
