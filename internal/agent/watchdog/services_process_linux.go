package watchdog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// processes is the ServiceManager of a Linux machine without systemd: a
// service is a running process of that name; it can be seen, not started.
// It reads /proc itself rather than through gopsutil's process package,
// which would add about 300 KB and regexp to every agent binary.
type processes struct{}

func (processes) State(ctx context.Context, name string) (ServiceState, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return ServiceState{}, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return ServiceState{}, ctx.Err()
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		// Processes end while we look; their errors are not ours.
		if procNamed(pid, name) {
			return ServiceState{Exists: true, Running: true, PID: pid}, nil
		}
	}
	// A process that is not running cannot be told from one that does
	// not exist: both are "stopped", never "missing".
	return ServiceState{Exists: true}, nil
}

// commLen is the most the kernel keeps of a process name (TASK_COMM_LEN
// less its NUL).
const commLen = 15

// procNamed reports whether process pid is alive (not a zombie) and named
// name: its kernel name, or, for names longer than the kernel keeps, the
// base name of its first argument.
func procNamed(pid int, name string) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	comm, state, ok := parseProcStat(stat)
	if !ok || state == 'Z' {
		return false
	}
	if comm == name {
		return true
	}
	if len(comm) < commLen || len(name) <= commLen || name[:commLen] != comm {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return filepath.Base(string(argv0)) == name
}

// parseProcStat reads the name and state from /proc/PID/stat: "PID (NAME)
// S ...", where NAME may itself hold spaces and parentheses, so it ends at
// the last ')'.
func parseProcStat(stat []byte) (comm string, state byte, ok bool) {
	open := bytes.IndexByte(stat, '(')
	end := bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open || end+2 >= len(stat) {
		return "", 0, false
	}
	return string(stat[open+1 : end]), stat[end+2], true
}

func (processes) Start(context.Context, string) error { return errCannotStart }
func (processes) Stop(context.Context, string) error  { return errCannotStart }
