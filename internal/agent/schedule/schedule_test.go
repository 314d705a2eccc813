package schedule

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/protocol"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func policyOf(t *testing.T, schedules ...map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(map[string]any{"scripts": map[string]any{"schedules": schedules}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func labels(ds []protocol.ScheduleDue) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Name+"@"+d.Occurrence)
	}
	return out
}

func newYork(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zoneinfo here: %v", err)
	}
	return loc
}

// step is one moment in a scheduler's life: set a policy, check, or take
// an acknowledgement, and what is pending after it.
type step struct {
	at      string
	policy  []map[string]any // set when not nil
	ack     string           // occurrence of "nightly" the server acknowledges
	restart bool             // a new Scheduler from the same state file
	want    []string
}

func TestMissedWindows(t *testing.T) {
	// 02:30 in New York in December is 07:30 UTC.
	nightly := map[string]any{"name": "nightly", "script_id": "s1", "when": "daily 02:30"}
	wide := map[string]any{"name": "nightly", "script_id": "s1", "when": "daily 02:30", "window": "6h"}
	quarter := map[string]any{"name": "nightly", "script_id": "s1", "when": "every 15m"}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"due on time", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T07:29:59Z", want: []string{}},
			{at: "2026-12-04T07:30:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T07:30:05Z", ack: "2026-12-04T02:30:00", want: []string{}},
			{at: "2026-12-04T08:00:00Z", want: []string{}},
			{at: "2026-12-05T07:30:00Z", want: []string{"nightly@2026-12-05T02:30:00"}},
		}},
		{"offline across the due: once on reconnect within the window", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T08:10:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T08:20:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T08:25:00Z", ack: "2026-12-04T02:30:00", want: []string{}},
			{at: "2026-12-04T08:29:00Z", want: []string{}},
		}},
		{"stopped past the window: not run", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T08:30:00Z", restart: true, want: []string{}},
			{at: "2026-12-05T07:30:00Z", want: []string{"nightly@2026-12-05T02:30:00"}},
		}},
		{"a due not taken within its window is given up", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T07:30:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T08:30:00Z", want: []string{}},
		}},
		{"days offline: only the most recent occurrence", []step{
			{at: "2026-12-01T12:00:00Z", policy: []map[string]any{wide}, want: []string{}},
			{at: "2026-12-04T09:00:00Z", restart: true, want: []string{"nightly@2026-12-04T02:30:00"}},
		}},
		{"every: one run for hours offline", []step{
			{at: "2026-12-04T00:01:00Z", policy: []map[string]any{quarter}, want: []string{}},
			{at: "2026-12-04T03:07:00Z", want: []string{"nightly@2026-12-03T22:00:00"}},
			{at: "2026-12-04T03:16:00Z", want: []string{"nightly@2026-12-03T22:15:00"}}, // superseded, never both
		}},
		{"restart with an unacknowledged due sends it again", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T07:30:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T07:40:00Z", restart: true, want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T07:41:00Z", ack: "2026-12-04T02:30:00", want: []string{}},
			{at: "2026-12-04T07:42:00Z", restart: true, want: []string{}},
		}},
		{"a schedule added after today's time waits for tomorrow", []step{
			{at: "2026-12-04T07:45:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T08:00:00Z", want: []string{}},
			{at: "2026-12-05T07:30:00Z", want: []string{"nightly@2026-12-05T02:30:00"}},
		}},
		{"a changed when starts afresh", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T07:30:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T07:31:00Z", policy: []map[string]any{{"name": "nightly", "script_id": "s1", "when": "daily 02:00"}}, want: []string{}},
			{at: "2026-12-05T07:00:00Z", want: []string{"nightly@2026-12-05T02:00:00"}},
		}},
		{"disabled: forgotten with its due", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T07:30:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T07:31:00Z", policy: []map[string]any{{"name": "nightly", "script_id": "s1", "when": "daily 02:30", "enabled": false}}, want: []string{}},
		}},
		{"an answer to another occurrence changes nothing", []step{
			{at: "2026-12-03T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-12-04T07:30:00Z", want: []string{"nightly@2026-12-04T02:30:00"}},
			{at: "2026-12-04T07:31:00Z", ack: "2026-12-03T02:30:00", want: []string{"nightly@2026-12-04T02:30:00"}},
		}},
		// Spring forward on 2026-03-08: 02:30 does not exist, it runs at
		// 03:00 EDT (07:00 UTC), once.
		{"spring forward", []step{
			{at: "2026-03-07T12:00:00Z", policy: []map[string]any{nightly}, want: []string{}},
			{at: "2026-03-08T06:59:59Z", want: []string{}},
			{at: "2026-03-08T07:00:00Z", want: []string{"nightly@2026-03-08T02:30:00"}},
			{at: "2026-03-08T07:01:00Z", ack: "2026-03-08T02:30:00", want: []string{}},
			{at: "2026-03-08T07:45:00Z", want: []string{}},
		}},
		// Fall back on 2026-11-01: 01:30 happens twice, it runs the first
		// time (05:30 UTC) only.
		{"fall back", []step{
			{at: "2026-10-31T12:00:00Z", policy: []map[string]any{{"name": "nightly", "script_id": "s1", "when": "daily 01:30", "window": "3h"}}, want: []string{}},
			{at: "2026-11-01T05:30:00Z", want: []string{"nightly@2026-11-01T01:30:00"}},
			{at: "2026-11-01T05:31:00Z", ack: "2026-11-01T01:30:00", want: []string{}},
			{at: "2026-11-01T06:30:00Z", want: []string{}},
			{at: "2026-11-01T06:31:00Z", restart: true, want: []string{}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := newYork(t)
			file := filepath.Join(t.TempDir(), "schedules.json")
			s := New(Options{StateFile: file, Location: loc, Log: quiet})
			var doc json.RawMessage
			for i, st := range tc.steps {
				now := at(st.at)
				if st.restart {
					s = New(Options{StateFile: file, Location: loc, Log: quiet})
					s.SetPolicy(doc, now)
				}
				if st.policy != nil {
					doc = policyOf(t, st.policy...)
					s.SetPolicy(doc, now)
				}
				if st.ack != "" {
					s.Acked(t.Context(), protocol.ScheduleAck{Name: "nightly", Occurrence: st.ack, JobID: "j1"})
				}
				s.Check(now)
				if diff := cmp.Diff(st.want, labels(s.Pending())); diff != "" {
					t.Fatalf("step %d at %s: pending (-want +got):\n%s", i, st.at, diff)
				}
			}
		})
	}
}

// A due kept from before a restart signals Ready once its schedule is
// known again, so a connection that is already up sends it.
func TestRestartSignalsKeptDue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "schedules.json")
	doc := policyOf(t, map[string]any{"name": "nightly", "script_id": "s1", "when": "daily 02:30"})
	s := New(Options{StateFile: file, Location: time.UTC, Log: quiet})
	s.SetPolicy(doc, at("2026-12-03T12:00:00Z"))
	s.Check(at("2026-12-04T02:30:00Z"))
	<-s.Ready()

	s = New(Options{StateFile: file, Location: time.UTC, Log: quiet})
	select {
	case <-s.Ready():
		t.Fatal("Ready before the policy names the schedule")
	default:
	}
	s.SetPolicy(doc, at("2026-12-04T02:31:00Z"))
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready not signalled for the kept due")
	}
	if diff := cmp.Diff([]string{"nightly@2026-12-04T02:30:00"}, labels(s.Pending())); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
}

func TestCheckReturnsNextDue(t *testing.T) {
	s := New(Options{Location: time.UTC, Log: quiet})
	s.SetPolicy(policyOf(t, map[string]any{"name": "a", "script_id": "s", "when": "daily 10:00"},
		map[string]any{"name": "b", "script_id": "s", "when": "once 2026-12-04 10:00:30"}), at("2026-12-04T09:59:50Z"))
	for _, tc := range []struct{ now, want string }{
		{"2026-12-04T09:59:50Z", "2026-12-04T10:00:00Z"},
		{"2026-12-04T10:00:00Z", "2026-12-04T10:00:30Z"},
		{"2026-12-04T10:00:30Z", "2026-12-04T10:01:30Z"}, // at most a minute
		{"2026-12-04T12:00:00Z", "2026-12-04T12:01:00Z"},
	} {
		if got := s.Check(at(tc.now)); !got.Equal(at(tc.want)) {
			t.Errorf("Check(%s) = %s, want %s", tc.now, got.Format(time.RFC3339), tc.want)
		}
	}
}

func TestParsePolicyTolerant(t *testing.T) {
	doc := json.RawMessage(`{"scripts": {"schedules": [
		{"name": "ok", "when": "every 15m"},
		{"name": "ok", "when": "daily 01:00"},
		{"name": "Bad Name", "when": "every 15m"},
		{"name": "badwhen", "when": "every 1m"},
		{"name": "off", "when": "every 15m", "enabled": false},
		{"name": "wide", "when": "daily 01:00", "window": "9999h"},
		"not an object"]}}`)
	got := parsePolicy(doc)
	if len(got) != 2 || got["ok"].window != 15*time.Minute || got["wide"].window != 7*24*time.Hour {
		t.Errorf("parsePolicy = %+v, want ok (15m window) and wide (clamped to 7 days)", got)
	}
	if len(parsePolicy(json.RawMessage(`not json`))) != 0 || len(parsePolicy(nil)) != 0 {
		t.Error("parsePolicy of nothing found schedules")
	}
}

// Run wakes at the due time on its own, in the bubble's fake clock (which
// starts at 2000-01-01 00:00 UTC), and signals Ready.
func TestRunWakesAtDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pol := settings.New(filepath.Join(t.TempDir(), "policy.json"))
		s := New(Options{Location: time.UTC, Log: quiet})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { s.Run(ctx, pol) })
		defer func() {
			cancel()
			wg.Wait()
		}()
		if err := pol.Apply(protocol.PolicyUpdate{Revision: "r1", Policy: policyOf(t, map[string]any{"name": "q", "script_id": "s", "when": "daily 02:30"})}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := s.Pending(); len(got) != 0 {
			t.Fatalf("pending at start: %v", got)
		}
		time.Sleep(2*time.Hour + 30*time.Minute) // the bubble's clock: returns at 02:30
		synctest.Wait()
		select {
		case <-s.Ready():
		default:
			t.Fatal("Ready not signalled at the due time")
		}
		if diff := cmp.Diff([]string{"q@2000-01-01T02:30:00"}, labels(s.Pending())); diff != "" {
			t.Errorf("pending (-want +got):\n%s", diff)
		}
	})
}
