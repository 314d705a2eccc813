//go:build !windows

package watchdog

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/process"
)

// processes is the ServiceManager of a machine without a service manager
// (or of watched names on macOS): a service is a running process of that
// name; it can be seen, not started.
type processes struct{}

func (processes) State(ctx context.Context, name string) (ServiceState, error) {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return ServiceState{}, fmt.Errorf("list processes: %w", err)
	}
	for _, p := range procs {
		// Processes end while we look; their errors are not ours.
		n, err := p.NameWithContext(ctx)
		if err != nil || n != name {
			continue
		}
		if zombie(ctx, p) {
			continue
		}
		return ServiceState{Exists: true, Running: true, PID: int(p.Pid)}, nil
	}
	// A process that is not running cannot be told from one that does
	// not exist: both are "stopped", never "missing".
	return ServiceState{Exists: true}, nil
}

// zombie reports whether p has exited and waits for its parent to reap it.
func zombie(ctx context.Context, p *process.Process) bool {
	st, err := p.StatusWithContext(ctx)
	return err == nil && len(st) > 0 && st[0] == process.Zombie
}

func (processes) Start(context.Context, string) error { return errCannotStart }
func (processes) Stop(context.Context, string) error  { return errCannotStart }
