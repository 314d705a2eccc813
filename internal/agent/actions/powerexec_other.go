//go:build !linux && !darwin && !windows

package actions

import "github.com/steward-rmm/steward/internal/protocol"

// powerCommands are the commands for action.
func powerCommands(action string) [][]string {
	if action == protocol.PowerReboot {
		return [][]string{{"shutdown", "-r", "now"}}
	}
	return [][]string{{"shutdown", "-h", "now"}}
}
