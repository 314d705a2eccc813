package actions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// procTable reads and ends the machine's processes (per OS).
type procTable interface {
	// cpu is the CPU time, in seconds, each process has used so far.
	cpu(ctx context.Context) map[int32]float64
	// list describes every process, CPUPercent left zero. Fields a
	// process keeps from the agent stay empty.
	list(ctx context.Context) ([]protocol.ProcessInfo, error)
	// name is pid's name as list gives it.
	name(ctx context.Context, pid int32) (string, error)
	// kill ends pid at once.
	kill(ctx context.Context, pid int32) error
}

// processes lists the processes with their CPU use over r.sample.
func (r *Runner) processes(ctx context.Context) (protocol.ProcessList, error) {
	first := r.procs.cpu(ctx)
	start := time.Now()
	t := time.NewTimer(r.sample)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return protocol.ProcessList{}, fmt.Errorf("list processes: %w", context.Cause(ctx))
	case <-t.C:
	}
	second := r.procs.cpu(ctx)
	elapsed := time.Since(start).Seconds()
	procs, err := r.procs.list(ctx)
	if err != nil {
		return protocol.ProcessList{}, fmt.Errorf("list processes: %w", err)
	}
	list := protocol.ProcessList{Processes: procs}
	if len(procs) > protocol.MaxProcesses {
		list.Processes, list.Truncated = procs[:protocol.MaxProcesses], true
	}
	for i := range list.Processes {
		p := &list.Processes[i]
		a, okA := first[p.PID]
		b, okB := second[p.PID]
		if okA && okB && b > a {
			p.CPUPercent = (b - a) / elapsed * 100
		}
	}
	return fitProcesses(list), nil
}

// errProtected refuses to end a process the machine or the agent needs.
var errProtected = errors.New("refused")

// endProcess ends req.PID if it still has req.Name, and with Tree its
// descendants.
func (r *Runner) endProcess(ctx context.Context, req protocol.ProcessEnd) (protocol.ProcessEnded, error) {
	if why := r.protected(req.PID, req.Name); why != "" {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d (%s): %w: %s", req.PID, req.Name, errProtected, why)
	}
	name, err := r.procs.name(ctx, req.PID)
	if err != nil {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d: %w", req.PID, err)
	}
	if name != req.Name {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d: it is now %q, not %q (the PID was reused?); list the processes again", req.PID, name, req.Name)
	}
	if why := r.protected(req.PID, name); why != "" {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d (%s): %w: %s", req.PID, name, errProtected, why)
	}
	var tree []int32
	if req.Tree {
		// Taken before the parent ends, while the children still name it.
		tree = r.descendants(ctx, req.PID)
	}
	if err := r.procs.kill(ctx, req.PID); err != nil {
		return protocol.ProcessEnded{}, fmt.Errorf("end process %d (%s): %w", req.PID, name, err)
	}
	out := protocol.ProcessEnded{PID: req.PID, Name: name, Ended: 1}
	for _, d := range tree {
		if err := r.procs.kill(ctx, d); err == nil {
			out.Ended++
		} else {
			r.log.DebugContext(ctx, "cannot end a descendant", "pid", d, "err", err)
		}
	}
	r.log.InfoContext(ctx, "process ended", "pid", req.PID, "name", name, "ended", out.Ended)
	return out, nil
}

// descendants are the processes below pid that may be ended.
func (r *Runner) descendants(ctx context.Context, pid int32) []int32 {
	procs, err := r.procs.list(ctx)
	if err != nil {
		return nil
	}
	children := map[int32][]protocol.ProcessInfo{}
	for _, p := range procs {
		if p.PPID != p.PID {
			children[p.PPID] = append(children[p.PPID], p)
		}
	}
	var out []int32
	seen := map[int32]bool{pid: true}
	queue := []int32{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			if seen[c.PID] {
				continue
			}
			seen[c.PID] = true
			queue = append(queue, c.PID)
			if r.protected(c.PID, c.Name) == "" {
				out = append(out, c.PID)
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
