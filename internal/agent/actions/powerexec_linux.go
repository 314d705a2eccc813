package actions

import "github.com/steward-rmm/steward/internal/protocol"

// powerCommands are the commands for action, in the order tried: systemd,
// then the classic shutdown where systemd does not run.
func powerCommands(action string) [][]string {
	if action == protocol.PowerReboot {
		return [][]string{{"systemctl", "reboot"}, {"shutdown", "-r", "now"}}
	}
	return [][]string{{"systemctl", "poweroff"}, {"shutdown", "-h", "now"}}
}
