package actions

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// launchdLabel checks a job label: launchctl reads a leading dash as an
// option and a slash as a domain.
func launchdLabel(name string) error {
	if strings.HasPrefix(name, "-") || strings.ContainsAny(name, " \t\n/") {
		return fmt.Errorf("%q is not a launchd job label", name)
	}
	return nil
}

// parseLaunchctlList reads `launchctl list`: a PID\tStatus\tLabel header,
// then one job a line, PID "-" when it does not run. A job that does not
// run after a non-zero last exit status failed.
func parseLaunchctlList(out []byte) []protocol.ServiceInfo {
	var list []protocol.ServiceInfo
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] == "PID" {
			continue
		}
		s := protocol.ServiceInfo{Name: f[2], State: protocol.ServiceStopped}
		if pid, err := strconv.ParseInt(f[0], 10, 32); err == nil && pid > 0 {
			s.State, s.PID = protocol.ServiceRunning, int32(pid)
		} else if f[0] != "-" {
			continue
		} else if code, err := strconv.Atoi(f[1]); err == nil && code != 0 {
			s.State = protocol.ServiceFailed
		}
		list = append(list, s)
	}
	return list
}

// parseLaunchctlPrint reads `launchctl print system/LABEL`: a block whose
// first-level lines are "\tkey = value"; nested blocks are indented more
// and skipped.
func parseLaunchctlPrint(label string, out []byte) protocol.ServiceInfo {
	s := protocol.ServiceInfo{Name: label, State: protocol.ServiceUnknown}
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "\t\t") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if !ok {
			continue
		}
		switch k {
		case "state":
			switch v {
			case "running":
				s.State = protocol.ServiceRunning
			case "not running", "waiting":
				s.State = protocol.ServiceStopped
			case "spawn scheduled", "xpcproxy":
				s.State = protocol.ServiceStarting
			}
		case "pid":
			if pid, err := strconv.ParseInt(v, 10, 32); err == nil && pid > 0 {
				s.PID = int32(pid)
			}
		case "path":
			s.Description = v
		}
	}
	return s
}
