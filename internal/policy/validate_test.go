package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		kv   []any
		want []FieldError
	}{
		{"empty document", nil, nil},
		{"valid values", []any{"metrics.interval", 5 * time.Second, "thresholds.cpu.trigger", 70, "thresholds.cpu.clear", 60}, nil},
		{"interval too short", []any{"metrics.interval", 4 * time.Second},
			[]FieldError{{"metrics.interval", "must be at least 5s"}}},
		{"interval too long", []any{"metrics.interval", 2 * time.Hour},
			[]FieldError{{"metrics.interval", "must be at most 1h0m0s"}}},
		{"buffer samples too small", []any{"metrics.buffer.max_samples", 10},
			[]FieldError{{"metrics.buffer.max_samples", "must be at least 100"}}},
		{"buffer bytes too large", []any{"metrics.buffer.max_bytes", int64(2 << 30)},
			[]FieldError{{"metrics.buffer.max_bytes", "must be at most 1073741824"}}},
		{"raw retention under an hour", []any{"metrics.retention.raw", 30 * time.Minute},
			[]FieldError{{"metrics.retention.raw", "must be at least 1h0m0s"}}},
		{"rollups kept shorter than raw", []any{"metrics.retention.raw", 48 * time.Hour, "metrics.retention.rollup", 24 * time.Hour},
			[]FieldError{{"metrics.retention.rollup", "must be at least metrics.retention.raw (48h0m0s)"}}},
		{"inventory interval under an hour", []any{"inventory.interval", 59 * time.Minute},
			[]FieldError{{"inventory.interval", "must be at least 1h0m0s"}}},
		{"cpu clear above trigger", []any{"thresholds.cpu.trigger", 80, "thresholds.cpu.clear", 85},
			[]FieldError{{"thresholds.cpu.clear", "must be below thresholds.cpu.trigger (80)"}}},
		{"memory clear equal to trigger", []any{"thresholds.memory.trigger", 85, "thresholds.memory.clear", 85},
			[]FieldError{{"thresholds.memory.clear", "must be below thresholds.memory.trigger (85)"}}},
		{"disk clear above trigger", []any{"thresholds.disk.trigger", 90.5, "thresholds.disk.clear", 95},
			[]FieldError{{"thresholds.disk.clear", "must be below thresholds.disk.trigger (90.5)"}}},
		{"disk free clear below trigger", []any{"thresholds.disk_free.trigger", 100, "thresholds.disk_free.clear", 50},
			[]FieldError{{"thresholds.disk_free.clear", "must be above thresholds.disk_free.trigger (100)"}}},
		{"percent over 100", []any{"thresholds.memory.trigger", 101},
			[]FieldError{{"thresholds.memory.trigger", "must be between 0 and 100"}}},
		{"negative percent", []any{"thresholds.cpu.clear", -1},
			[]FieldError{{"thresholds.cpu.clear", "must be between 0 and 100"}}},
		{"unknown severity", []any{"thresholds.offline.severity", "urgent"},
			[]FieldError{{"thresholds.offline.severity", `must be one of "info", "warning", "critical"`}}},
		{"negative duration", []any{"thresholds.cpu.for", -time.Second},
			[]FieldError{{"thresholds.cpu.for", "must be at least 0s"}}},
		{"offline too soon", []any{"thresholds.offline.after", 10 * time.Second},
			[]FieldError{{"thresholds.offline.after", "must be at least 1m0s"}}},
		{"mount clear above trigger", []any{"thresholds.disk_mounts", map[string]DiskLimits{"/var": {PercentTrigger: 80, PercentClear: 90}}},
			[]FieldError{{"thresholds.disk_mounts", `mountpoint "/var": percent_clear must be below percent_trigger`}}},
		{"mount free clear below trigger", []any{"thresholds.disk_mounts", map[string]DiskLimits{"/": {FreeBytesTrigger: 10, FreeBytesClear: 10}}},
			[]FieldError{{"thresholds.disk_mounts", `mountpoint "/": free_bytes_clear must be above free_bytes_trigger`}}},
		{"empty mountpoint", []any{"thresholds.disk_mounts", map[string]DiskLimits{"": {}}},
			[]FieldError{{"thresholds.disk_mounts", "mountpoint must not be empty"}}},
		{"channel IDs", []any{"notifications.critical", []string{"0190aaaa-0000-7000-8000-000000000001", "0190AAAA-0000-7000-8000-000000000002"}}, nil},
		{"no channels", []any{"notifications.info", []string{}}, nil},
		{"channel ID with a slash", []any{"notifications.warning", []string{"../x"}},
			[]FieldError{{"notifications.warning", `"../x" is not a channel ID`}}},
		{"empty channel ID", []any{"notifications.warning", []string{""}},
			[]FieldError{{"notifications.warning", `"" is not a channel ID`}}},
		{"channel listed twice", []any{"notifications.warning", []string{"0190aaaa-0000-7000-8000-000000000001", "0190AAAA-0000-7000-8000-000000000001"}},
			[]FieldError{{"notifications.warning", `channel "0190AAAA-0000-7000-8000-000000000001" is listed twice`}}},
		{"too many channels", []any{"notifications.critical", manyIDs(maxChannels + 1)},
			[]FieldError{{"notifications.critical", "must have at most 32 channels"}}},
		{"several errors in spec order", []any{"inventory.interval", time.Minute, "metrics.interval", time.Second},
			[]FieldError{{"metrics.interval", "must be at least 5s"}, {"inventory.interval", "must be at least 1h0m0s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Validate(doc(t, tt.kv...))); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetRejects(t *testing.T) {
	var d Document
	if err := d.Set("metrics.nope", true); !errors.Is(err, ErrUnknownField) {
		t.Errorf("Set(unknown) got %v, want ErrUnknownField", err)
	}
	if err := d.Set("metrics.interval", 60); err == nil {
		t.Errorf("Set(metrics.interval, 60) got nil error, want a type error")
	}
	if err := d.Set("metrics", true); !errors.Is(err, ErrUnknownField) {
		t.Errorf("Set(section) got %v, want ErrUnknownField", err)
	}
	if d.Len() != 0 {
		t.Errorf("Len() after failed sets got %d, want 0", d.Len())
	}
}

func TestSpecs(t *testing.T) {
	seen := map[string]bool{}
	for _, sp := range Specs() {
		if seen[sp.Path] {
			t.Errorf("duplicate spec %s", sp.Path)
		}
		seen[sp.Path] = true
		if sp.Help == "" {
			t.Errorf("spec %s has no help", sp.Path)
		}
		if _, err := normalize(sp.Kind, sp.Default); err != nil {
			t.Errorf("spec %s default: %v", sp.Path, err)
		}
		section, _, _ := strings.Cut(sp.Path, ".")
		if !strings.Contains(strings.Join(Sections(), " "), section) {
			t.Errorf("spec %s is in unknown section %s", sp.Path, section)
		}
	}
	for _, m := range MetricNames() {
		if !seen["metrics.enabled."+m] {
			t.Errorf("no switch for metric %s", m)
		}
	}
}

// manyIDs returns n distinct well-formed channel IDs.
func manyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0190aaaa-0000-7000-8000-%012x", i)
	}
	return ids
}
