package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// settleEvery is how often a service's state is read while waiting for it
// to reach the state asked for.
const settleEvery = 250 * time.Millisecond

// wantState is the state action leaves a service in.
func wantState(action string) string {
	if action == protocol.ServiceStop {
		return protocol.ServiceStopped
	}
	return protocol.ServiceRunning
}

// settle reads the service until it is in want or ctx ends; a service
// that failed, or that is still elsewhere when ctx ends, is an error that
// says where it is.
func settle(ctx context.Context, name, want string, get func(context.Context) (protocol.ServiceInfo, error)) (protocol.ServiceInfo, error) {
	tick := time.NewTicker(settleEvery)
	defer tick.Stop()
	for {
		info, err := get(ctx)
		switch {
		case err != nil:
			return protocol.ServiceInfo{}, err
		case info.State == want:
			return info, nil
		case info.State == protocol.ServiceFailed:
			return info, fmt.Errorf("service %s failed (wanted %s)", name, want)
		}
		select {
		case <-ctx.Done():
			return info, fmt.Errorf("service %s is %s, not %s, after waiting: %w", name, info.State, want, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
