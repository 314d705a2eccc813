package watchdog

import (
	"strconv"
	"strings"
)

// parseLaunchctlPrint reads the top-level "state = running" and
// "pid = 123" lines of `launchctl print system/LABEL`. It lives in a file
// for every OS so that its test runs here.
func parseLaunchctlPrint(out []byte) ServiceState {
	st := ServiceState{Exists: true}
	for line := range strings.Lines(string(out)) {
		// The daemon's own properties are indented by one tab; deeper
		// blocks (endpoints, the environment) by more.
		if !strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "\t\t") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if !ok {
			continue
		}
		switch k {
		case "state":
			st.Running = v == "running"
		case "pid":
			st.PID, _ = strconv.Atoi(v)
		}
	}
	if !st.Running {
		st.PID = 0
	}
	return st
}
