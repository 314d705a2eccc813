package watchdog

import "testing"

func TestParseLaunchctlPrint(t *testing.T) {
	// Abridged from `launchctl print system/com.example.daemon` (macOS 14).
	running := "system/com.steward.agent = {\n\tactive count = 1\n\tpath = /Library/LaunchDaemons/com.steward.agent.plist\n\ttype = LaunchDaemon\n\tstate = running\n\n\tprogram = /Library/Steward/steward-agent\n\targuments = {\n\t\t/Library/Steward/steward-agent\n\t\trun\n\t}\n\n\tpid = 512\n\timmediate reason = speculative\n\tendpoints = {\n\t\tpid = 9\n\t}\n}\n"
	stopped := "system/com.steward.agent = {\n\tactive count = 0\n\tstate = not running\n\tlast exit code = 1\n}\n"
	tests := []struct {
		name string
		out  string
		want ServiceState
	}{
		{"running", running, ServiceState{Exists: true, Running: true, PID: 512}},
		{"stopped", stopped, ServiceState{Exists: true}},
		{"empty", "", ServiceState{Exists: true}},
	}
	for _, tt := range tests {
		if got := parseLaunchctlPrint([]byte(tt.out)); got != tt.want {
			t.Errorf("%s: parseLaunchctlPrint = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
