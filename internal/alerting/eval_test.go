package alerting

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/policy"
)

func thresholds(t *testing.T, doc string) Thresholds {
	t.Helper()
	d, err := policy.Decode(json.RawMessage(doc))
	if err != nil {
		t.Fatalf("policy.Decode(%s): %v", doc, err)
	}
	return ThresholdsOf(policy.Resolve(policy.Assignment{Level: policy.LevelDefault, PolicyID: "p", Document: d}))
}

type step struct {
	after time.Duration // since the start
	value float64
	want  string // "", "open" or "resolve"
}

func run(t *testing.T, th Thresholds, key string, steps []step) {
	t.Helper()
	e := NewEvaluator()
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, s := range steps {
		tr := e.Observe("a1", th, start.Add(s.after), map[string]float64{key: s.value})
		got := ""
		if len(tr) == 1 {
			got = map[bool]string{true: "open", false: "resolve"}[tr[0].Open]
		} else if len(tr) > 1 {
			t.Fatalf("step %d: %d transitions, want at most one", i, len(tr))
		}
		if got != s.want {
			t.Errorf("step %d (%s, %v): transition %q, want %q", i, s.after, s.value, got, s.want)
		}
	}
}

func TestCPUDurationAndHysteresis(t *testing.T) {
	// trigger 90, clear 80, for 2m.
	th := thresholds(t, `{"thresholds":{"cpu":{"trigger":90,"clear":80,"for":"2m"}}}`)
	run(t, th, "cpu.percent", []step{
		{0, 95, ""},                   // breach starts
		{time.Minute, 96, ""},         // 1 minute: not yet
		{2 * time.Minute, 97, "open"}, // 2 minutes: opens
		{3 * time.Minute, 99, ""},     // stays open, no second alert
		{4 * time.Minute, 85, ""},     // below trigger but above clear: still open
		{5 * time.Minute, 79, "resolve"},
		{6 * time.Minute, 85, ""}, // below trigger: nothing
	})
}

func TestInterruptedBreachRestarts(t *testing.T) {
	th := thresholds(t, `{"thresholds":{"cpu":{"trigger":90,"clear":80,"for":"2m"}}}`)
	run(t, th, "cpu.percent", []step{
		{0, 95, ""},
		{time.Minute, 50, ""}, // interrupted
		{2 * time.Minute, 95, ""},
		{3 * time.Minute, 95, ""},
		{4 * time.Minute, 95, "open"}, // two minutes after the new start
	})
}

func TestFlappingAroundTriggerOpensOnce(t *testing.T) {
	th := thresholds(t, `{"thresholds":{"memory":{"trigger":90,"clear":85,"for":"0s"}}}`)
	run(t, th, "memory.percent", []step{
		{0, 91, "open"},
		{time.Minute, 89, ""}, {2 * time.Minute, 91, ""}, {3 * time.Minute, 88, ""}, {4 * time.Minute, 92, ""},
		{5 * time.Minute, 84, "resolve"},
		{6 * time.Minute, 91, "open"},
	})
}

func TestDiskMountOverrideAndFreeBytes(t *testing.T) {
	th := thresholds(t, `{"thresholds":{
		"disk":{"trigger":95,"clear":90,"for":"0s"},
		"disk_mounts":{"/var":{"percent_trigger":80,"percent_clear":70,"free_bytes_trigger":0,"free_bytes_clear":0}},
		"disk_free":{"enabled":true,"trigger":1000,"clear":2000,"for":"0s"}}}`)
	run(t, th, "disk.percent:/", []step{{0, 85, ""}, {time.Minute, 96, "open"}})
	run(t, th, "disk.percent:/var", []step{{0, 85, "open"}, {time.Minute, 75, ""}, {2 * time.Minute, 65, "resolve"}})
	run(t, th, "disk.free_bytes:/", []step{{0, 5000, ""}, {time.Minute, 900, "open"}, {2 * time.Minute, 1500, ""}, {3 * time.Minute, 2500, "resolve"}})
	if r, ok := th.RuleFor("disk.percent:/var"); !ok || r.Name != "disk:/var" || r.Trigger != 80 {
		t.Errorf("RuleFor(disk.percent:/var) = %+v, %v; want the /var override named disk:/var", r, ok)
	}
}

func TestDisabledAndUnwatched(t *testing.T) {
	th := thresholds(t, `{"thresholds":{"cpu":{"enabled":false}}}`)
	run(t, th, "cpu.percent", []step{{0, 100, ""}, {time.Hour, 100, ""}})
	run(t, th, "net.rx_bytes_per_s:eth0", []step{{0, 1e12, ""}})
	if _, ok := th.RuleFor("disk.free_bytes:/"); ok {
		t.Errorf("disk_free rule enabled by default, want off")
	}
	after, sev, ok := th.Offline()
	if !ok || after != 5*time.Minute || sev != "warning" {
		t.Errorf("Offline() = %s, %s, %v; want the built-in 5m warning", after, sev, ok)
	}
}

func TestRestoreResolvesInsteadOfReopening(t *testing.T) {
	th := thresholds(t, `{"thresholds":{"cpu":{"trigger":90,"clear":80,"for":"0s"}}}`)
	e := NewEvaluator()
	e.Restore("a1", "cpu")
	now := time.Now()
	if tr := e.Observe("a1", th, now, map[string]float64{"cpu.percent": 95}); len(tr) != 0 {
		t.Errorf("restored open alert opened again: %+v", tr)
	}
	tr := e.Observe("a1", th, now.Add(time.Minute), map[string]float64{"cpu.percent": 10})
	if len(tr) != 1 || tr[0].Open {
		t.Errorf("restored alert did not resolve: %+v", tr)
	}
}
