package service

// The tray's autostart entry, one per OS (the tray command creates it; see
// RemoveTrayAutostart): Windows HKLM ...\CurrentVersion\Run value
// StewardTray, an XDG autostart file on Linux, a LaunchAgent on macOS.
const (
	TrayRunValue    = "StewardTray"
	TrayDesktopFile = "/etc/xdg/autostart/steward-agent-tray.desktop"
	TrayLaunchAgent = "/Library/LaunchAgents/com.steward.agent.tray.plist"
)
