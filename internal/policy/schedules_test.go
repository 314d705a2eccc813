package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSchedulesDecodeAndValidate(t *testing.T) {
	for _, tc := range []struct {
		name, json, err string
		want            []ScheduledScript
	}{
		{name: "full", json: `[{"name": "nightly", "script_id": "0b6c-1f", "args": ["a b", "ü"], "when": "daily 02:30", "window": "2h", "enabled": false}]`,
			want: []ScheduledScript{{Name: "nightly", ScriptID: "0b6c-1f", Args: []string{"a b", "ü"}, When: "daily 02:30", Window: "2h"}}},
		{name: "enabled by default", json: `[{"name": "q", "script_id": "s", "when": "every 15m"}]`,
			want: []ScheduledScript{{Name: "q", ScriptID: "s", Args: []string{}, When: "every 15m", Enabled: true}}},
		{name: "empty", json: `[]`, want: []ScheduledScript{}},
		{name: "unknown member", json: `[{"name": "q", "script_id": "s", "when": "every 15m", "enable": true}]`, err: `unknown field "enable"`},
		{name: "not a list", json: `{"name": "q"}`, err: "must be a list of schedules"},
		{name: "bad name", json: `[{"name": "Nightly Run", "script_id": "s", "when": "every 15m"}]`, err: "name must be 1 to 64 lower-case"},
		{name: "twice", json: `[{"name": "q", "script_id": "s", "when": "every 15m"}, {"name": "q", "script_id": "t", "when": "daily 01:00"}]`,
			err: `schedule "q" is listed twice`},
		{name: "no script", json: `[{"name": "q", "when": "every 15m"}]`, err: "script_id must be a script ID"},
		{name: "bad script id", json: `[{"name": "q", "script_id": "../x", "when": "every 15m"}]`, err: "script_id must be a script ID"},
		{name: "bad when", json: `[{"name": "q", "script_id": "s", "when": "every 1m"}]`, err: `schedule "q": when interval 1m is shorter than 5m`},
		{name: "month day", json: `[{"name": "q", "script_id": "s", "when": "monthly 32 01:00"}]`, err: "must be 1 to 31"},
		{name: "window", json: `[{"name": "q", "script_id": "s", "when": "daily 01:00", "window": "8d"}]`, err: "not a duration"},
		{name: "window too long", json: `[{"name": "q", "script_id": "s", "when": "daily 01:00", "window": "169h"}]`, err: "window must be between 1m0s and 7 days"},
		{name: "window too short", json: `[{"name": "q", "script_id": "s", "when": "daily 01:00", "window": "30s"}]`, err: "window must be between"},
		{name: "too many args", json: `[{"name": "q", "script_id": "s", "when": "daily 01:00", "args": [` + strings.Repeat(`"a",`, 16) + `"a"]}]`,
			err: "at most 16 arguments"},
		{name: "args too long", json: `[{"name": "q", "script_id": "s", "when": "daily 01:00", "args": ["` + strings.Repeat("a", 260) + `"]}]`,
			err: "at most 256 bytes"},
		{name: "too many", json: `[` + strings.Repeat(`{"name": "q", "script_id": "s", "when": "daily 01:00"},`, 10) + `{"name": "q", "script_id": "s", "when": "daily 01:00"}]`,
			err: "at most 10 schedules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Decode([]byte(`{"scripts": {"schedules": ` + tc.json + `}}`))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Decode error %v, want one containing %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), "scripts.schedules") {
					t.Errorf("error %v does not name the field", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, _ := doc.Get("scripts.schedules")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scripts.schedules (-want +got):\n%s", diff)
			}
			// It writes back to what it read.
			b, err := doc.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(JSON()): %v", err)
			}
			if back, _ := again.Get("scripts.schedules"); !cmp.Equal(back, got) {
				t.Errorf("round trip gave %+v, want %+v", back, got)
			}
		})
	}
}

func TestScheduleWindow(t *testing.T) {
	for _, tc := range []struct {
		s    ScheduledScript
		want string
	}{
		{ScheduledScript{When: "every 15m"}, "15m0s"},
		{ScheduledScript{When: "daily 02:30"}, "1h0m0s"},
		{ScheduledScript{When: "daily 02:30", Window: "3h"}, "3h0m0s"},
	} {
		got, err := tc.s.WindowDuration()
		if err != nil || got.String() != tc.want {
			t.Errorf("%+v WindowDuration() = %v, %v; want %s", tc.s, got, err, tc.want)
		}
	}
}
