package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/steward-rmm/steward/internal/protocol"
)

func selfPID() int { return os.Getpid() }

// sampled is one process seen at the start of the CPU sample.
type sampled struct {
	p   *process.Process
	cpu float64 // user+system seconds at the start
}

// processes lists the processes with their CPU use over r.sample.
func (r *Runner) processes(ctx context.Context) (protocol.ProcessList, error) {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return protocol.ProcessList{}, fmt.Errorf("list processes: %w", err)
	}
	var list protocol.ProcessList
	if len(procs) > protocol.MaxProcesses {
		procs, list.Truncated = procs[:protocol.MaxProcesses], true
	}
	first := make([]sampled, len(procs))
	for i, p := range procs {
		first[i] = sampled{p: p, cpu: cpuSeconds(ctx, p)}
	}
	start := time.Now()
	t := time.NewTimer(r.sample)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return protocol.ProcessList{}, fmt.Errorf("list processes: %w", context.Cause(ctx))
	case <-t.C:
	}
	elapsed := time.Since(start).Seconds()
	list.Processes = make([]protocol.ProcessInfo, 0, len(first))
	for _, s := range first {
		info, ok := describe(ctx, s.p)
		if !ok {
			continue // ended meanwhile
		}
		if used := cpuSeconds(ctx, s.p) - s.cpu; used > 0 && s.cpu >= 0 {
			info.CPUPercent = used / elapsed * 100
		}
		list.Processes = append(list.Processes, info)
	}
	return fitProcesses(list), nil
}

// cpuSeconds is the CPU time p used so far, -1 when unknown.
func cpuSeconds(ctx context.Context, p *process.Process) float64 {
	t, err := p.TimesWithContext(ctx)
	if err != nil {
		return -1
	}
	return t.User + t.System
}

// describe reads what the list shows of p; ok is false when p is gone.
// Fields a process keeps from the agent (another user's command line on
// some systems) stay empty.
func describe(ctx context.Context, p *process.Process) (protocol.ProcessInfo, bool) {
	name, err := p.NameWithContext(ctx)
	if err != nil {
		if running, rerr := p.IsRunningWithContext(ctx); rerr == nil && !running {
			return protocol.ProcessInfo{}, false
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
	return info, true
}

// errProtected refuses to end a process the machine or the agent needs.
var errProtected = errors.New("refused")

// endProcess ends req.PID if it still has req.Name, and with Tree its
// descendants.
func (r *Runner) endProcess(ctx context.Context, req protocol.ProcessEnd) (protocol.ProcessEnded, error) {
	if why := r.protected(req.PID, req.Name); why != "" {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d (%s): %w: %s", req.PID, req.Name, errProtected, why)
	}
	p, err := process.NewProcessWithContext(ctx, req.PID)
	if err != nil {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d: no such process", req.PID)
	}
	name, err := p.NameWithContext(ctx)
	if err != nil {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d: read its name: %w", req.PID, err)
	}
	if name != req.Name {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d: it is now %q, not %q (the PID was reused?); list the processes again", req.PID, name, req.Name)
	}
	if why := r.protected(req.PID, name); why != "" {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d (%s): %w: %s", req.PID, name, errProtected, why)
	}
	var tree []*process.Process
	if req.Tree {
		// Taken before the parent ends, while the children still name it.
		tree = r.descendants(ctx, req.PID)
	}
	if err := p.KillWithContext(ctx); err != nil {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d (%s): %w", req.PID, name, err)
	}
	out := protocol.ProcessEnded{PID: req.PID, Name: name, Ended: 1}
	for _, d := range tree {
		if err := d.KillWithContext(ctx); err == nil {
			out.Ended++
		} else {
			r.log.DebugContext(ctx, "cannot end a descendant", "pid", d.Pid, "err", err)
		}
	}
	r.log.InfoContext(ctx, "process ended", "pid", req.PID, "name", name, "ended", out.Ended)
	return out, nil
}

// descendants are the processes below pid that may be ended.
func (r *Runner) descendants(ctx context.Context, pid int32) []*process.Process {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil
	}
	children := map[int32][]*process.Process{}
	for _, p := range procs {
		if pp, err := p.PpidWithContext(ctx); err == nil && pp != p.Pid {
			children[pp] = append(children[pp], p)
		}
	}
	var out []*process.Process
	seen := map[int32]bool{pid: true}
	queue := []int32{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			if seen[c.Pid] {
				continue
			}
			seen[c.Pid] = true
			queue = append(queue, c.Pid)
			name, _ := c.NameWithContext(ctx)
			if r.protected(c.Pid, name) == "" {
				out = append(out, c)
			}
		}
		queue = queue[1:]
	}
	return out
}

// protected says why the process must not be ended, "" when it may be.
func (r *Runner) protected(pid int32, name string) string {
	if pid == r.self {
		return "it is the Steward agent itself"
	}
	return systemProcess(pid, name)
}
