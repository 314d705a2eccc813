package policy

import (
	"time"

	"golang.org/x/mod/semver"
)

// addUpdateFields adds the updates section: how the agents of a scope
// take new releases. All but the window steer the server's rollout; the
// window goes to the agent, which waits for it in its own time zone.
// The window's grammar is checked where policies are saved (it is parsed
// by protocol.ParseUpdateWindow, which this data-only package does not
// import).
func addUpdateFields(add func(path string, kind Kind, def any, help string, check func(any) string), serverOnly func()) {
	add("updates.auto", KindBool, true,
		"Whether new releases of the agents' channel are installed without anyone asking.", nil)
	serverOnly()
	add("updates.pinned_version", KindText, "",
		`Keep the agents on this version (e.g. "1.4.0"): newer releases are not installed automatically. Empty follows the channel.`, checkPinned)
	serverOnly()
	add("updates.window", KindText, "",
		`When agents may install an update, in their own time zone: "DAYS HH:MM-HH:MM" such as "mon-fri 22:00-04:00", "daily 01:00-05:00" or "sat,sun 00:00-00:00"; empty is any time.`, checkText)
	add("updates.rollout_percent", KindPercent, 100.0,
		"Share of the agents that get a new release automatically; the same agents stay in as it grows.",
		func(v any) string { return checkPercent(v.(float64)) })
	serverOnly()
	add("updates.halt.failed_percent", KindPercent, 10.0,
		"Halt a release's rollout when more than this percent of the agents that tried it failed (counted from 10 agents).",
		func(v any) string { return checkPercent(v.(float64)) })
	serverOnly()
	add("updates.halt.failed_agents", KindInt, int64(20),
		"Halt a release's rollout when more than this many agents failed to install it.", intRange(1, 1_000_000))
	serverOnly()
	add("updates.confirm_deadline", KindDuration, 5*time.Minute,
		"How long an updated agent has to come back and be confirmed before its watchdog restores the previous version.",
		durationRange(time.Minute, time.Hour))
	serverOnly()
}

// checkPinned accepts "" or a semantic version without a leading v.
func checkPinned(v any) string {
	s := v.(string)
	if s == "" {
		return ""
	}
	if s[0] == 'v' || !semver.IsValid("v"+s) || semver.Canonical("v"+s) != "v"+s {
		return `must be a version such as "1.4.0" (or empty to follow the channel)`
	}
	return ""
}
