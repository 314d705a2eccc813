package actions

import "github.com/steward-rmm/steward/internal/protocol"

// powerCommands are the commands for action.
func powerCommands(action string) [][]string {
	if action == protocol.PowerReboot {
		return [][]string{{"/sbin/shutdown", "-r", "now"}}
	}
	return [][]string{{"/sbin/shutdown", "-h", "now"}}
}
