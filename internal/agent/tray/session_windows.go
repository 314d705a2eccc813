package tray

import (
	"strconv"

	"golang.org/x/sys/windows"
)

// Session names the login session the tray runs in, as the agent reports
// it beside the user: the Windows session ID; "" if it cannot be had.
func Session() string {
	var id uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &id); err != nil {
		return ""
	}
	return strconv.FormatUint(uint64(id), 10)
}
