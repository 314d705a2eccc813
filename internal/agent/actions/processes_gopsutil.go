//go:build !linux && !windows

package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newProcTable() procTable { return gopsutilProcs{} }

// gopsutilProcs reads processes through gopsutil (sysctl and ps on
// macOS). Linux and Windows read them themselves: gopsutil's process
// package links regexp, about 200 KiB of the agent.
type gopsutilProcs struct{}

func (gopsutilProcs) cpu(ctx context.Context) map[int32]float64 {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil
	}
	out := make(map[int32]float64, len(procs))
	for _, p := range procs {
		if t, err := p.TimesWithContext(ctx); err == nil {
			out[p.Pid] = t.User + t.System
		}
	}
	return out
}

func (gopsutilProcs) list(ctx context.Context) ([]protocol.ProcessInfo, error) {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.ProcessInfo, 0, len(procs))
	for _, p := range procs {
		name, err := p.NameWithContext(ctx)
		if err != nil {
			if running, rerr := p.IsRunningWithContext(ctx); rerr == nil && !running {
				continue // ended meanwhile
			}
		}
		info := protocol.ProcessInfo{PID: p.Pid, Name: name}
		info.PPID, _ = p.PpidWithContext(ctx)
		info.User, _ = p.UsernameWithContext(ctx)
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			info.MemoryBytes = m.RSS
		}
		info.CommandLine, _ = p.CmdlineWithContext(ctx)
		if ms, err := p.CreateTimeWithContext(ctx); err == nil && ms > 0 {
			info.StartedAt = time.UnixMilli(ms).UTC()
		}
		out = append(out, info)
	}
	return out, nil
}

func (gopsutilProcs) name(ctx context.Context, pid int32) (string, error) {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return "", fmt.Errorf("no such process")
	}
	name, err := p.NameWithContext(ctx)
	if err != nil {
		return "", fmt.Errorf("read its name: %w", err)
	}
	return name, nil
}

func (gopsutilProcs) kill(ctx context.Context, pid int32) error {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return fmt.Errorf("no such process")
	}
	return p.KillWithContext(ctx)
}
