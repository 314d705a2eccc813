//go:build !windows

package tray

import (
	"os"
	"strings"
	"unicode"
)

// Session names the login session the tray runs in, as the agent reports
// it beside the user: the session logind gave it (XDG_SESSION_ID), else
// its display; "" when neither is known (macOS has one GUI session per
// user).
func Session() string {
	for _, env := range []string{"XDG_SESSION_ID", "WAYLAND_DISPLAY", "DISPLAY"} {
		if v := os.Getenv(env); v != "" {
			return sessionName(v)
		}
	}
	return ""
}

// sessionName keeps a name the agent accepts: at most 64 bytes of
// printable text; anything else is no name.
func sessionName(v string) string {
	if len(v) > 64 || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return ""
	}
	return v
}
