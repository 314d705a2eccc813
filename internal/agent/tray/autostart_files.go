package tray

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path"
	"strings"
)

// The autostart files' text, here rather than beside each OS's Install so
// that both are tested on any OS. Their paths are Unix paths.

func desktopEntry(binary string) ([]byte, error) {
	if !path.IsAbs(binary) || strings.ContainsAny(binary, "\n\r") {
		return nil, fmt.Errorf("tray autostart: binary %q is not an absolute path on one line", binary)
	}
	return []byte(`[Desktop Entry]
Type=Application
Name=Steward
Comment=Steward agent status and help requests
TryExec=` + escapeDesktopString(binary) + `
Exec=` + desktopExecArg(binary) + ` tray
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
`), nil
}

// escapeDesktopString applies the desktop entry rule for string values.
func escapeDesktopString(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`).Replace(s)
}

// desktopExecArg quotes one Exec argument as the Desktop Entry
// Specification says: inside double quotes, " ` $ and \ take a backslash,
// then the string rule doubles every backslash, and % is doubled for the
// field codes.
func desktopExecArg(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t\"'\\><~|&;$*?#()`") {
		return s
	}
	q := strings.NewReplacer(`"`, `\"`, "`", "\\`", `$`, `\$`, `\`, `\\`).Replace(s)
	return `"` + escapeDesktopString(q) + `"`
}

// launchAgentPlist: KeepAlive restarts the tray's parent only when it
// fails (it exits 0 when another tray runs in the session).
func launchAgentPlist(binary string) ([]byte, error) {
	if !path.IsAbs(binary) {
		return nil, fmt.Errorf("tray autostart: binary %q is not an absolute path", binary)
	}
	var bin bytes.Buffer
	if err := xml.EscapeText(&bin, []byte(binary)); err != nil {
		return nil, fmt.Errorf("tray autostart: %w", err)
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>com.steward.agent.tray</string>
	<key>ProgramArguments</key>
	<array>
		<string>` + bin.String() + `</string>
		<string>tray</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>LimitLoadToSessionType</key>
	<string>Aqua</string>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`), nil
}
