package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is the type of a policy field's value. It decides the Go type the
// value is held in, how it is written in JSON and how it is checked.
type Kind int

const (
	// KindBool is a bool, written as a JSON boolean.
	KindBool Kind = iota + 1
	// KindInt is an int64, written as a JSON integer.
	KindInt
	// KindPercent is a float64 between 0 and 100, written as a JSON number.
	KindPercent
	// KindDuration is a time.Duration, written as a Go duration string ("60s", "5m0s").
	KindDuration
	// KindSeverity is a Severity, written as a JSON string.
	KindSeverity
	// KindMounts is a map[string]DiskLimits keyed by mountpoint, written as a
	// JSON object. It is resolved as one value: the most specific level that
	// sets it replaces the whole map.
	KindMounts
	// KindChannels is a []string of notification channel IDs, written as a
	// JSON array of strings. ["all"] (AllChannels) means every channel; []
	// means none.
	KindChannels
	// KindText is a string of one line, written as a JSON string.
	KindText
	// KindServices is a []WatchedService, written as a JSON array of
	// objects and resolved as one value, like KindMounts.
	KindServices
	// KindLinks is a []Link, written as a JSON array of objects and
	// resolved as one value.
	KindLinks
	// KindSchedules is a []ScheduledScript, written as a JSON array of
	// objects and resolved as one value.
	KindSchedules
)

// String returns the name of the kind as shown to users.
func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindPercent:
		return "percent"
	case KindDuration:
		return "duration"
	case KindSeverity:
		return "severity"
	case KindMounts:
		return "mounts"
	case KindChannels:
		return "channels"
	case KindText:
		return "text"
	case KindServices:
		return "services"
	case KindLinks:
		return "links"
	case KindSchedules:
		return "schedules"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Severity is how serious an alert raised by a threshold rule is.
type Severity string

// The severities an alert can have, least serious first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Valid reports whether s is one of the known severities.
func (s Severity) Valid() bool {
	return s == SeverityInfo || s == SeverityWarning || s == SeverityCritical
}

// DiskLimits overrides the disk thresholds for one mountpoint. A zero
// trigger disables that check on the mountpoint; the rule's other settings
// (enabled, severity, for) come from thresholds.disk and thresholds.disk_free.
type DiskLimits struct {
	// PercentTrigger raises the disk alert when used space is above it.
	PercentTrigger float64 `json:"percent_trigger"`
	// PercentClear clears it when used space drops below it; below PercentTrigger.
	PercentClear float64 `json:"percent_clear"`
	// FreeBytesTrigger raises the free-space alert when free bytes fall below it.
	FreeBytesTrigger int64 `json:"free_bytes_trigger"`
	// FreeBytesClear clears it when free bytes rise above it; above FreeBytesTrigger.
	FreeBytesClear int64 `json:"free_bytes_clear"`
}

// AllChannels, alone in a KindChannels value, routes to every enabled
// notification channel whose minimum severity the alert reaches.
const AllChannels = "all"

// Limits on channel lists: a channel ID is a UUID, 36 characters.
const (
	maxChannels     = 32
	maxChannelIDLen = 64
)

// Limits on the per-mountpoint overrides, so an untrusted document stays small.
const (
	maxMounts       = 64
	maxMountPathLen = 256
)

// Spec describes one field of a policy document: where it lives, what it
// holds, its built-in default and the rule its value must satisfy.
type Spec struct {
	// Path is the dotted path of the field, e.g. "metrics.interval".
	Path string
	// Kind is the type of the value.
	Kind Kind
	// Default is the built-in default value, in the Go type of Kind.
	Default any
	// Help says what the field does, for the dashboard.
	Help string
	// ServerOnly fields steer the server (notification routing): they are
	// resolved like every field but left out of the document sent to
	// agents and of its revision, so changing one pushes nothing.
	ServerOnly bool
	// check returns a message when v is out of range, or "" when it is fine.
	// v is already of Kind's Go type.
	check func(v any) string
}

// Sections lists the top-level sections of a policy document. Those
// without fields yet (remote_access) are
// placeholders that later work fills in: a document may only contain them
// as empty objects.
func Sections() []string {
	return []string{"metrics", "thresholds", "notifications", "inventory", "updates", "watchdog", "tray", "remote_access", "scripts"}
}

// schema is the immutable table of fields, built once.
type schema struct {
	specs  []Spec
	byPath map[string]int
	groups map[string]bool // every proper prefix of a field path, plus the sections
}

var loadSchema = sync.OnceValue(buildSchema)

// Specs returns the descriptors of every field, in display order.
func Specs() []Spec {
	s := loadSchema()
	out := slices.Clone(s.specs)
	for i := range out {
		out[i].Default = cloneValue(out[i].Default)
	}
	return out
}

// SpecFor returns the descriptor of the field at path.
func SpecFor(path string) (Spec, bool) {
	s := loadSchema()
	i, ok := s.byPath[path]
	if !ok {
		return Spec{}, false
	}
	sp := s.specs[i]
	sp.Default = cloneValue(sp.Default)
	return sp, true
}

// MetricNames lists the metrics an agent can collect, each switched on or
// off by metrics.enabled.<name>.
func MetricNames() []string {
	return []string{"cpu", "memory", "swap", "disk", "disk_io", "network", "load", "uptime", "processes", "users", "temperature"}
}

// Sizes used by the defaults.
const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

const day = 24 * time.Hour

func buildSchema() *schema {
	var specs []Spec
	add := func(path string, kind Kind, def any, help string, check func(any) string) {
		specs = append(specs, Spec{Path: path, Kind: kind, Default: def, Help: help, check: check})
	}

	add("metrics.interval", KindDuration, 60*time.Second,
		"How often the agent samples metrics.", durationRange(5*time.Second, time.Hour))
	for _, m := range MetricNames() {
		// Temperature sensors are missing or need privileges on many hosts.
		add("metrics.enabled."+m, KindBool, m != "temperature",
			"Whether the agent collects the "+m+" metric.", nil)
	}
	add("metrics.buffer.max_samples", KindInt, int64(10_000),
		"Most samples the agent keeps on disk while it cannot reach the server.", intRange(100, 1_000_000))
	add("metrics.buffer.max_bytes", KindInt, int64(16*mib),
		"Most bytes of samples the agent keeps on disk while offline; whichever limit is hit first applies.", intRange(64*kib, gib))
	add("metrics.retention.raw", KindDuration, 7*day,
		"How long the server keeps raw samples.", durationRange(time.Hour, 366*day))
	add("metrics.retention.rollup", KindDuration, 400*day,
		"How long the server keeps hourly rollups; at least metrics.retention.raw.", durationRange(time.Hour, 3660*day))

	var addRemediation func(p, what string)
	rule := func(name, what string, sev Severity, trigger, clear float64, forDur time.Duration) {
		p := "thresholds." + name + "."
		add(p+"enabled", KindBool, true, "Whether the "+what+" alert is raised.", nil)
		add(p+"severity", KindSeverity, sev, "Severity of the "+what+" alert.", nil)
		add(p+"trigger", KindPercent, trigger, "Raise the "+what+" alert when the value is above this percent.", nil)
		add(p+"clear", KindPercent, clear, "Clear the "+what+" alert when the value drops below this percent; below trigger.", nil)
		add(p+"for", KindDuration, forDur, "How long the value must stay above trigger before the alert is raised.", durationRange(0, day))
		addRemediation(p, what)
	}
	// addRemediation adds the rule's remediation script: its job runs on
	// the agent when the alert opens, and the alert links to it.
	// The server starts it; agents never see the field.
	addRemediation = func(p, what string) {
		add(p+"remediation", KindText, "",
			"ID of a library script run on the agent when the "+what+" alert opens; empty for none.", scriptIDCheck)
		specs[len(specs)-1].ServerOnly = true
	}
	rule("cpu", "CPU usage", SeverityWarning, 90, 80, 5*time.Minute)
	rule("memory", "memory usage", SeverityWarning, 90, 85, 5*time.Minute)
	rule("disk", "disk usage", SeverityCritical, 95, 90, time.Minute)

	// Free-bytes alerts are off by default: a fixed byte count does not suit
	// both a 512 MB /boot and a 4 TB data volume.
	add("thresholds.disk_free.enabled", KindBool, false, "Whether the low free disk space alert is raised.", nil)
	add("thresholds.disk_free.severity", KindSeverity, SeverityCritical, "Severity of the low free disk space alert.", nil)
	add("thresholds.disk_free.trigger", KindInt, int64(gib),
		"Raise the alert when a filesystem's free bytes fall below this.", intRange(0, 1<<60))
	add("thresholds.disk_free.clear", KindInt, int64(2*gib),
		"Clear the alert when free bytes rise above this; above trigger.", intRange(0, 1<<60))
	add("thresholds.disk_free.for", KindDuration, time.Minute,
		"How long free bytes must stay below trigger before the alert is raised.", durationRange(0, day))
	addRemediation("thresholds.disk_free.", "low free disk space")
	add("thresholds.disk_mounts", KindMounts, map[string]DiskLimits{},
		"Per-mountpoint overrides of the disk and disk_free levels; replaced as a whole by a more specific level.", checkMounts)

	add("thresholds.offline.enabled", KindBool, true, "Whether an alert is raised when the agent stops reporting.", nil)
	add("thresholds.offline.severity", KindSeverity, SeverityWarning, "Severity of the agent offline alert.", nil)
	add("thresholds.offline.after", KindDuration, 5*time.Minute,
		"How long the agent must be silent before it counts as offline.", durationRange(time.Minute, 7*day))

	// The server routes alerts by these fields; agents never see them.
	for _, sev := range []Severity{SeverityInfo, SeverityWarning, SeverityCritical} {
		add("notifications."+string(sev), KindChannels, []string{AllChannels},
			`Notification channels (IDs) that get `+string(sev)+` alerts: ["all"] for every enabled channel whose minimum severity admits them, [] for none.`, nil)
		specs[len(specs)-1].ServerOnly = true
	}

	add("inventory.interval", KindDuration, day,
		"How often the agent reports hardware and software inventory.", durationRange(time.Hour, 30*day))

	// The agent caps a run's streams by it unless the job sets its own.
	add("scripts.max_output", KindInt, int64(mib),
		"Bytes of each output stream (stdout, stderr) the agent keeps per script run, unless the job sets its own; the rest is dropped and the stream marked truncated.",
		intRange(4*kib, 16*mib))

	addMachineFields(add)
	addScriptFields(add)
	addUpdateFields(add, func() { specs[len(specs)-1].ServerOnly = true })

	s := &schema{specs: specs, byPath: make(map[string]int, len(specs)), groups: make(map[string]bool)}
	for _, sec := range Sections() {
		s.groups[sec] = true
	}
	for i, sp := range specs {
		s.byPath[sp.Path] = i
		parts := strings.Split(sp.Path, ".")
		for j := 1; j < len(parts); j++ {
			s.groups[strings.Join(parts[:j], ".")] = true
		}
	}
	return s
}

// scriptIDCheck accepts "" or what a script ID looks like; whether the
// script exists is checked when the alert opens (it may be deleted since).
func scriptIDCheck(v any) string {
	id := v.(string)
	if len(id) > 128 {
		return "must be a script ID"
	}
	for _, c := range id {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "must be a script ID"
		}
	}
	return ""
}

func durationRange(lo, hi time.Duration) func(any) string {
	return func(v any) string {
		d := v.(time.Duration)
		switch {
		case d < lo:
			return fmt.Sprintf("must be at least %s", lo)
		case d > hi:
			return fmt.Sprintf("must be at most %s", hi)
		}
		return ""
	}
}

func intRange(lo, hi int64) func(any) string {
	return func(v any) string {
		n := v.(int64)
		switch {
		case n < lo:
			return fmt.Sprintf("must be at least %d", lo)
		case n > hi:
			return fmt.Sprintf("must be at most %d", hi)
		}
		return ""
	}
}

func checkPercent(p float64) string {
	if p < 0 || p > 100 {
		return "must be between 0 and 100"
	}
	return ""
}

// checkChannels accepts ["all"] or distinct, well-formed channel IDs.
// Whether the channels exist is for the caller that can see them.
func checkChannels(ids []string) string {
	if len(ids) > maxChannels {
		return fmt.Sprintf("must have at most %d channels", maxChannels)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		switch {
		case id == AllChannels:
			if len(ids) != 1 {
				return fmt.Sprintf("%q cannot be combined with channel IDs", AllChannels)
			}
		case id == "" || len(id) > maxChannelIDLen || strings.Trim(id, "0123456789abcdefABCDEF-") != "":
			return fmt.Sprintf("%q is not a channel ID", truncate(id, maxChannelIDLen))
		case seen[strings.ToLower(id)]:
			return fmt.Sprintf("channel %q is listed twice", id)
		}
		seen[strings.ToLower(id)] = true
	}
	return ""
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func checkMounts(v any) string {
	m := v.(map[string]DiskLimits)
	if len(m) > maxMounts {
		return fmt.Sprintf("must have at most %d mountpoints", maxMounts)
	}
	for _, mount := range slices.Sorted(maps.Keys(m)) {
		l := m[mount]
		bad := func(msg string) string { return fmt.Sprintf("mountpoint %q: %s", mount, msg) }
		switch {
		case mount == "":
			return "mountpoint must not be empty"
		case len(mount) > maxMountPathLen:
			return bad(fmt.Sprintf("longer than %d bytes", maxMountPathLen))
		case checkPercent(l.PercentTrigger) != "" || checkPercent(l.PercentClear) != "":
			return bad("percent_trigger and percent_clear must be between 0 and 100")
		case l.PercentTrigger > 0 && l.PercentClear >= l.PercentTrigger:
			return bad("percent_clear must be below percent_trigger")
		case l.FreeBytesTrigger < 0 || l.FreeBytesClear < 0:
			return bad("free_bytes_trigger and free_bytes_clear must not be negative")
		case l.FreeBytesTrigger > 0 && l.FreeBytesClear <= l.FreeBytesTrigger:
			return bad("free_bytes_clear must be above free_bytes_trigger")
		}
	}
	return ""
}
