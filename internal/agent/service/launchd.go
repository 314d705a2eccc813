package service

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// LaunchdLabel is the launchd label of role's daemon; its plist is
// /Library/LaunchDaemons/<label>.plist.
func LaunchdLabel(r Role) string {
	if r == Watchdog {
		return "com.steward.agent.watchdog"
	}
	return "com.steward.agent"
}

// launchdLogDir holds the daemons' standard error: launchd has no journal
// for daemons that do not use os_log.
const launchdLogDir = "/Library/Logs/Steward"

// LaunchdPlist is the launchd daemon plist of role.
func LaunchdPlist(r Role, s Spec) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w(`<?xml version="1.0" encoding="UTF-8"?>`)
	w(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`)
	w(`<plist version="1.0">`)
	w(`<dict>`)
	w("\t<key>Label</key>")
	w("\t<string>%s</string>", plistEscape(LaunchdLabel(r)))
	w("\t<key>ProgramArguments</key>")
	w("\t<array>")
	for _, a := range append([]string{s.Binary}, s.Args(r)...) {
		w("\t\t<string>%s</string>", plistEscape(a))
	}
	w("\t</array>")
	// Start at boot and whenever it exits, for whatever reason; launchd
	// waits ThrottleInterval seconds between starts, as RestartSec=10 does.
	w("\t<key>RunAtLoad</key>")
	w("\t<true/>")
	w("\t<key>KeepAlive</key>")
	w("\t<true/>")
	w("\t<key>ThrottleInterval</key>")
	w("\t<integer>10</integer>")
	// SIGTERM, then SIGKILL after this many seconds, as TimeoutStopSec.
	w("\t<key>ExitTimeOut</key>")
	w("\t<integer>30</integer>")
	w("\t<key>SoftResourceLimits</key>")
	w("\t<dict>")
	w("\t\t<key>NumberOfFiles</key>")
	w("\t\t<integer>65536</integer>")
	w("\t</dict>")
	w("\t<key>StandardErrorPath</key>")
	w("\t<string>%s/%s.log</string>", launchdLogDir, r)
	w(`</dict>`)
	w(`</plist>`)
	return b.String()
}

func plistEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

var (
	printPID   = regexp.MustCompile(`(?m)^\s*pid = (\d+)\s*$`)
	printState = regexp.MustCompile(`(?m)^\s*state = (.+?)\s*$`)
)

// parseLaunchctlPrint reads the state and PID from `launchctl print
// system/<label>` output into st.
func parseLaunchctlPrint(st State, out string) State {
	st.Installed = true
	if m := printState.FindStringSubmatch(out); m != nil {
		st.Running = m[1] == "running"
		st.Detail = "state = " + m[1]
	}
	if m := printPID.FindStringSubmatch(out); m != nil {
		st.PID, _ = strconv.Atoi(m[1])
	}
	return st
}
