package tray

import "path/filepath"

// launchAgent is loaded by launchd in every user's GUI (Aqua) session at
// login.
const launchAgent = "/Library/LaunchAgents/com.steward.agent.tray.plist"

func (a Autostart) path() string { return filepath.Join(a.Root, launchAgent) }

// Install writes the LaunchAgent for binary. Users already logged in get
// the tray at their next login.
func (a Autostart) Install(binary string) (bool, error) {
	data, err := launchAgentPlist(binary)
	if err != nil {
		return false, err
	}
	return writeFileIfChanged(a.path(), data)
}

// Remove deletes the LaunchAgent.
func (a Autostart) Remove() (bool, error) { return removeFile(a.path()) }
