package actions

import "github.com/steward-rmm/steward/internal/protocol"

// powerCommands are the commands for action: shutdown.exe takes the
// shutdown privilege itself; /f closes programs that would hold the
// machine up (the user was told through the tray), /d records a planned
// shutdown in the event log.
func powerCommands(action string) [][]string {
	flag := "/s"
	if action == protocol.PowerReboot {
		flag = "/r"
	}
	return [][]string{{"shutdown.exe", flag, "/f", "/t", "0", "/d", "p:0:0"}}
}
