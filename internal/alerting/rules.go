// Threshold rules: when alerts open and resolve. This part is pure: rules
// come from an agent's effective policy, values from the samples it sends,
// and the evaluator answers with transitions (open, resolved) that the
// Service stores and notifies. A rule opens only after its condition held
// for the rule's duration, and resolves only past its clear level
// (hysteresis), so a value hovering around the trigger does not flap.

package alerting

import (
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/policy"
)

// Rule is one threshold on one metric key.
type Rule struct {
	// Name identifies the rule within an agent: "cpu", "memory",
	// "disk:/var", "disk_free:/var".
	Name string
	// Metric is the sample key the rule watches, e.g. "disk.percent:/var".
	Metric string
	// Above is true for "value above trigger" rules, false for "below".
	Above    bool
	Trigger  float64
	Clear    float64
	For      time.Duration
	Severity policy.Severity
	// Remediation is the library script to run on the agent when the
	// alert opens, "" for none.
	Remediation string
}

// breached reports whether v is past the trigger.
func (r Rule) breached(v float64) bool {
	if r.Above {
		return v > r.Trigger
	}
	return v < r.Trigger
}

// cleared reports whether v is back past the clear level.
func (r Rule) cleared(v float64) bool {
	if r.Above {
		return v < r.Clear
	}
	return v > r.Clear
}

// Thresholds are the rules of one effective policy.
type Thresholds struct {
	eff policy.Effective
}

// ThresholdsOf reads the threshold rules of an effective policy.
func ThresholdsOf(eff policy.Effective) Thresholds { return Thresholds{eff: eff} }

// RuleFor returns the rule that watches a sample key, if one is enabled:
// cpu.percent, memory.percent, disk.percent:MOUNT and disk.free_bytes:MOUNT.
func (t Thresholds) RuleFor(key string) (Rule, bool) {
	name, instance, _ := strings.Cut(key, ":")
	switch name {
	case "cpu.percent":
		return t.percentRule("cpu", key, nil)
	case "memory.percent":
		return t.percentRule("memory", key, nil)
	case "disk.percent":
		if instance == "" {
			return Rule{}, false
		}
		r, ok := t.percentRule("disk", key, t.mount(instance))
		r.Name = "disk:" + instance
		return r, ok
	case "disk.free_bytes":
		if instance == "" || !t.bool("thresholds.disk_free.enabled") {
			return Rule{}, false
		}
		r := Rule{
			Name: "disk_free:" + instance, Metric: key, Above: false,
			Trigger: float64(t.int("thresholds.disk_free.trigger")), Clear: float64(t.int("thresholds.disk_free.clear")),
			For: t.duration("thresholds.disk_free.for"), Severity: t.severity("thresholds.disk_free.severity"),
			Remediation: t.text("thresholds.disk_free.remediation"),
		}
		if m := t.mount(instance); m != nil && m.FreeBytesTrigger > 0 {
			r.Trigger, r.Clear = float64(m.FreeBytesTrigger), float64(m.FreeBytesClear)
		}
		return r, true
	}
	return Rule{}, false
}

// Offline returns how long an agent may be offline before its alert opens,
// and the alert's severity, if the offline alert is enabled.
func (t Thresholds) Offline() (after time.Duration, severity policy.Severity, ok bool) {
	if !t.bool("thresholds.offline.enabled") {
		return 0, "", false
	}
	return t.duration("thresholds.offline.after"), t.severity("thresholds.offline.severity"), true
}

func (t Thresholds) percentRule(name, key string, m *policy.DiskLimits) (Rule, bool) {
	p := "thresholds." + name + "."
	if !t.bool(p + "enabled") {
		return Rule{}, false
	}
	r := Rule{
		Name: name, Metric: key, Above: true,
		Trigger: t.float(p + "trigger"), Clear: t.float(p + "clear"),
		For: t.duration(p + "for"), Severity: t.severity(p + "severity"),
		Remediation: t.text(p + "remediation"),
	}
	if m != nil && m.PercentTrigger > 0 {
		r.Trigger, r.Clear = m.PercentTrigger, m.PercentClear
	}
	return r, true
}

func (t Thresholds) mount(instance string) *policy.DiskLimits {
	v, ok := t.eff.Get("thresholds.disk_mounts")
	if !ok {
		return nil
	}
	mounts, ok := v.Value.(map[string]policy.DiskLimits)
	if !ok {
		return nil
	}
	if m, ok := mounts[instance]; ok {
		return &m
	}
	return nil
}

func (t Thresholds) value(path string) any {
	v, _ := t.eff.Get(path)
	return v.Value
}

func (t Thresholds) bool(path string) bool {
	b, _ := t.value(path).(bool)
	return b
}

func (t Thresholds) float(path string) float64 {
	switch v := t.value(path).(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

func (t Thresholds) int(path string) int64 {
	switch v := t.value(path).(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

func (t Thresholds) text(path string) string {
	s, _ := t.value(path).(string)
	return s
}

func (t Thresholds) duration(path string) time.Duration {
	d, _ := t.value(path).(time.Duration)
	return d
}

func (t Thresholds) severity(path string) policy.Severity {
	s, _ := t.value(path).(policy.Severity)
	if s == "" {
		return policy.Severity("warning")
	}
	return s
}
