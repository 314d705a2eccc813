package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	in := `{
		"metrics": {
			"interval": "30s",
			"enabled": {"temperature": true, "users": false},
			"buffer": {"max_samples": 5000},
			"retention": {"raw": "48h", "rollup": null}
		},
		"thresholds": {
			"cpu": {"severity": "critical", "trigger": 97.5, "clear": 90, "for": "10m"},
			"disk_mounts": {"/var/lib/data.1": {"percent_trigger": 98, "percent_clear": 95}}
		},
		"notifications": {"critical": ["0190aaaa-0000-7000-8000-000000000001"], "info": []},
		"inventory": {"interval": "12h"},
		"updates": {}, "watchdog": {}, "tray": null, "remote_access": {}, "scripts": {}
	}`
	got, err := Decode([]byte(in))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := doc(t,
		"metrics.interval", 30*time.Second,
		"metrics.enabled.temperature", true,
		"metrics.enabled.users", false,
		"metrics.buffer.max_samples", 5000,
		"metrics.retention.raw", 48*time.Hour,
		"thresholds.cpu.severity", SeverityCritical,
		"thresholds.cpu.trigger", 97.5,
		"thresholds.cpu.clear", 90,
		"thresholds.cpu.for", 10*time.Minute,
		"thresholds.disk_mounts", map[string]DiskLimits{"/var/lib/data.1": {PercentTrigger: 98, PercentClear: 95}},
		"notifications.critical", []string{"0190aaaa-0000-7000-8000-000000000001"},
		"notifications.info", []string{},
		"inventory.interval", 12*time.Hour,
	)
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Document{})); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeFieldErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want FieldErrors
	}{
		{"unknown section", `{"alerts": {}}`, FieldErrors{{"alerts", "unknown field"}}},
		{"unknown field", `{"metrics": {"intervall": "5s"}}`, FieldErrors{{"metrics.intervall", "unknown field"}}},
		{"unknown nested field", `{"thresholds": {"cpu": {"above": 5}}}`, FieldErrors{{"thresholds.cpu.above", "unknown field"}}},
		{"unknown metric", `{"metrics": {"enabled": {"gpu": true}}}`, FieldErrors{{"metrics.enabled.gpu", "unknown field"}}},
		{"dotted key", `{"metrics": {"enabled.cpu": true}}`, FieldErrors{{"metrics.enabled.cpu", "unknown field"}}},
		{"placeholder with content", `{"updates": {"channel": "beta"}}`, FieldErrors{{"updates.channel", "unknown field"}}},
		{"duplicate key", `{"metrics": {"interval": "5s", "interval": "10s"}}`, FieldErrors{{"metrics.interval", "duplicate field"}}},
		{"section not an object", `{"metrics": 5}`, FieldErrors{{"metrics", "must be an object"}}},
		{"top level not an object", `[]`, FieldErrors{{"", "must be an object"}}},
		{"bool as string", `{"metrics": {"enabled": {"cpu": "yes"}}}`, FieldErrors{{"metrics.enabled.cpu", "must be true or false"}}},
		{"duration as number", `{"metrics": {"interval": 60}}`, FieldErrors{{"metrics.interval", `must be a duration string such as "60s" or "5m"`}}},
		{"bad duration", `{"metrics": {"interval": "soon"}}`, FieldErrors{{"metrics.interval", `invalid duration "soon"`}}},
		{"int as string", `{"metrics": {"buffer": {"max_samples": "100"}}}`, FieldErrors{{"metrics.buffer.max_samples", "must be a number"}}},
		{"fractional int", `{"metrics": {"buffer": {"max_samples": 100.5}}}`, FieldErrors{{"metrics.buffer.max_samples", "must be a whole number within int64"}}},
		{"range checked too", `{"metrics": {"interval": "1s"}}`, FieldErrors{{"metrics.interval", "must be at least 5s"}}},
		{"severity", `{"thresholds": {"cpu": {"severity": "bad"}}}`, FieldErrors{{"thresholds.cpu.severity", `must be one of "info", "warning", "critical"`}}},
		{"channels not a list", `{"notifications": {"warning": "all"}}`,
			FieldErrors{{"notifications.warning", `must be a list of channel IDs, ["all"] or []`}}},
		{"channels of numbers", `{"notifications": {"warning": [1]}}`,
			FieldErrors{{"notifications.warning", `must be a list of channel IDs, ["all"] or []`}}},
		{"all with an ID", `{"notifications": {"info": ["all", "0190aaaa-0000-7000-8000-000000000001"]}}`,
			FieldErrors{{"notifications.info", `"all" cannot be combined with channel IDs`}}},
		{"mount unknown field", `{"thresholds": {"disk_mounts": {"/": {"percent": 5}}}}`,
			FieldErrors{{"thresholds.disk_mounts", `mountpoint "/": json: unknown field "percent"`}}},
		{"several", `{"metrics": {"interval": "1s", "x": 1}, "y": 2}`,
			FieldErrors{{"metrics.x", "unknown field"}, {"y", "unknown field"}, {"metrics.interval", "must be at least 5s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			var got FieldErrors
			if !errors.As(err, &got) {
				t.Fatalf("Decode(%s) got error %v, want FieldErrors", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode(%s) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []string{
		``,
		`{`,
		`{"metrics": {"interval": "5s"}`,
		`{} {}`,
		`{}x`,
		`{"metrics": {"interval": }}`,
		strings.Repeat(" ", MaxDocumentSize+1),
	}
	for _, in := range tests {
		_, err := Decode([]byte(in))
		var fe FieldErrors
		if err == nil || errors.As(err, &fe) {
			t.Errorf("Decode(%.40q) got %v, want a syntax or size error", in, err)
		}
	}
}

func TestDecodeTooManyMounts(t *testing.T) {
	m := map[string]DiskLimits{}
	for i := range maxMounts + 1 {
		m[strings.Repeat("/a", i+1)] = DiskLimits{}
	}
	b, err := json.Marshal(map[string]any{"thresholds": map[string]any{"disk_mounts": m}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(b)
	want := "thresholds.disk_mounts: must have at most 64 mountpoints"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Decode(%d mounts) got %v, want %q", len(m), err, want)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	docs := map[string]Document{
		"empty":   {},
		"builtin": Builtin(),
		"partial": doc(t, "metrics.interval", 90*time.Second, "thresholds.disk.trigger", 99.25, "thresholds.disk.clear", 98,
			"thresholds.disk_mounts", map[string]DiskLimits{"C:\\": {FreeBytesTrigger: 1 << 30, FreeBytesClear: 2 << 30}}),
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var got Document
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if diff := cmp.Diff(d.Paths(), got.Paths()); diff != "" {
				t.Errorf("paths mismatch (-want +got):\n%s", diff)
			}
			for _, p := range d.Paths() {
				w, _ := d.Get(p)
				g, _ := got.Get(p)
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("%s mismatch (-want +got):\n%s", p, diff)
				}
			}
			b2, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("Marshal again: %v", err)
			}
			if string(b) != string(b2) {
				t.Errorf("re-marshal got %s, want %s", b2, b)
			}
		})
	}
	if b, _ := json.Marshal(Document{}); string(b) != "{}" {
		t.Errorf("Marshal(empty) got %s, want {}", b)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"metrics": {"interval": "30s", "enabled": {"cpu": false}, "buffer": {"max_samples": 500}}}`))
	f.Add([]byte(`{"thresholds": {"cpu": {"trigger": 95, "clear": 90, "severity": "info", "for": "1m"}}}`))
	f.Add([]byte(`{"thresholds": {"disk_mounts": {"/": {"percent_trigger": 90, "percent_clear": 80}}}}`))
	f.Add([]byte(`{"metrics": null, "updates": {}, "x": [1, {"y": 2}]}`))
	f.Add([]byte(`{"metrics": {"interval": "5s", "interval": "6s"}}`))
	f.Add([]byte(`{"notifications": {"info": [], "warning": ["all"], "critical": ["0190aaaa-0000-7000-8000-000000000001", "x"]}}`))
	if b, err := json.Marshal(Builtin()); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			return
		}
		if errs := Validate(d); errs != nil {
			t.Fatalf("Decode accepted an invalid document: %v", errs)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal decoded document: %v", err)
		}
		d2, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Marshal(d)) = %v for %s", err, b)
		}
		b2, err := json.Marshal(d2)
		if err != nil {
			t.Fatalf("Marshal again: %v", err)
		}
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s to %s", b, b2)
		}
		// Resolving a valid document must not panic, and the result has a revision.
		if Resolve(Assignment{Level: LevelAgent, Document: d}).Revision() == "" {
			t.Fatal("empty revision")
		}
	})
}
