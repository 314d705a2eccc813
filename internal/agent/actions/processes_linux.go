package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newProcTable() procTable { return procFS{root: "/proc"} }

// procFS reads processes from /proc, as gopsutil's process package would,
// without linking it (it costs the agent about 200 KiB).
type procFS struct{ root string }

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux the agent runs on (it is fixed in the kernel's ABI).
const clockTicks = 100

// procStat is what is read of /proc/PID/stat.
type procStat struct {
	comm      string
	ppid      int32
	cpu       float64 // user+system seconds
	startTick uint64  // since boot, in clockTicks
}

// parseProcStat reads /proc/PID/stat: "pid (comm) state ppid ...", where
// comm may hold spaces and parentheses, so the fields are counted from
// the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state): field N is f[N-3].
	if len(f) < 20 {
		return procStat{}, errors.New("malformed stat")
	}
	ppid, err1 := strconv.ParseInt(f[1], 10, 32)
	utime, err2 := strconv.ParseUint(f[11], 10, 64)
	stime, err3 := strconv.ParseUint(f[12], 10, 64)
	start, err4 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return procStat{}, fmt.Errorf("malformed stat: %w", err)
	}
	return procStat{comm: string(b[open+1 : end]), ppid: int32(ppid),
		cpu: float64(utime+stime) / clockTicks, startTick: start}, nil
}

// pids are the processes in /proc.
func (p procFS) pids() ([]int32, error) {
	d, err := os.Open(p.root)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int32, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.ParseInt(n, 10, 32); err == nil && pid > 0 {
			pids = append(pids, int32(pid))
		}
	}
	return pids, nil
}

func (p procFS) stat(pid int32) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(int(pid)), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

func (p procFS) cpu(ctx context.Context) map[int32]float64 {
	pids, err := p.pids()
	if err != nil {
		return nil
	}
	out := make(map[int32]float64, len(pids))
	for _, pid := range pids {
		if st, err := p.stat(pid); err == nil {
			out[pid] = st.cpu
		}
	}
	return out
}

func (p procFS) list(ctx context.Context) ([]protocol.ProcessInfo, error) {
	pids, err := p.pids()
	if err != nil {
		return nil, err
	}
	boot, _ := p.bootTime()
	users := map[string]string{} // uid → name
	page := uint64(os.Getpagesize())
	out := make([]protocol.ProcessInfo, 0, len(pids))
	for _, pid := range pids {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		st, err := p.stat(pid)
		if err != nil {
			continue // ended meanwhile
		}
		dir := filepath.Join(p.root, strconv.Itoa(int(pid)))
		argv := readCmdline(filepath.Join(dir, "cmdline"))
		info := protocol.ProcessInfo{PID: pid, PPID: st.ppid, Name: fullName(st.comm, argv), CommandLine: strings.Join(argv, " ")}
		if uid := statusUID(filepath.Join(dir, "status")); uid != "" {
			if _, ok := users[uid]; !ok {
				users[uid] = uid
				if u, err := user.LookupId(uid); err == nil {
					users[uid] = u.Username
				}
			}
			info.User = users[uid]
		}
		if b, err := os.ReadFile(filepath.Join(dir, "statm")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 1 {
				rss, _ := strconv.ParseUint(f[1], 10, 64)
				info.MemoryBytes = rss * page
			}
		}
		if !boot.IsZero() {
			info.StartedAt = boot.Add(time.Duration(st.startTick) * time.Second / clockTicks).UTC()
		}
		out = append(out, info)
	}
	return out, nil
}

func (p procFS) name(_ context.Context, pid int32) (string, error) {
	st, err := p.stat(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errors.New("no such process")
	}
	if err != nil {
		return "", fmt.Errorf("read its name: %w", err)
	}
	return fullName(st.comm, readCmdline(filepath.Join(p.root, strconv.Itoa(int(pid)), "cmdline"))), nil
}

func (procFS) kill(_ context.Context, pid int32) error {
	return syscall.Kill(int(pid), syscall.SIGKILL)
}

// bootTime is the btime line of /proc/stat.
func (p procFS) bootTime() (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(p.root, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}

// readCmdline reads a NUL-separated /proc/PID/cmdline; a kernel thread
// has none.
func readCmdline(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// fullName is the process's name: the kernel keeps 15 bytes of it, so a
// name that long is taken from the program's path when that starts the
// same.
func fullName(comm string, argv []string) string {
	if len(comm) >= 15 && len(argv) > 0 {
		if base := filepath.Base(argv[0]); strings.HasPrefix(base, comm) {
			return base
		}
	}
	return comm
}

// statusUID is the real user ID on the Uid line of /proc/PID/status.
func statusUID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}
