package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no zoneinfo for %s here: %v", name, err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func wall(s string) time.Time {
	t, err := time.Parse(LabelLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		when, canon, err string
		window           time.Duration
	}{
		{when: "every 15m", canon: "every 15m", window: 15 * time.Minute},
		{when: "  Every   2h ", canon: "every 2h", window: 2 * time.Hour},
		{when: "every 24h", canon: "every 24h", window: 24 * time.Hour},
		{when: "daily 02:30", canon: "daily 02:30", window: time.Hour},
		{when: "daily 23:59:59", canon: "daily 23:59:59", window: time.Hour},
		{when: "weekly mon,thu 02:30", canon: "weekly mon,thu 02:30", window: time.Hour},
		{when: "monthly 31 03:00", canon: "monthly 31 03:00", window: time.Hour},
		{when: "once 2026-12-24 18:00", canon: "once 2026-12-24 18:00", window: time.Hour},
		{when: "once 2026-12-24 18:00:05", canon: "once 2026-12-24 18:00:05", window: time.Hour},
		{when: "", err: "is empty"},
		{when: "hourly", err: "start with every, daily"},
		{when: "every 4m", err: "shorter than 5m"},
		{when: "every 25h", err: "longer than 24h"},
		{when: "every 15s", err: "whole number of minutes or hours"},
		{when: "every 1.5h", err: "whole number of minutes or hours"},
		{when: "every", err: `write "every 15m"`},
		{when: "daily 2:30", err: "HH:MM"},
		{when: "daily 24:00", err: "00:00 to 23:59:59"},
		{when: "daily 02:60", err: "00:00 to 23:59:59"},
		{when: "daily 02:30 extra", err: `write "daily 02:30"`},
		{when: "weekly mon,funday 02:30", err: `"funday" is not a day`},
		{when: "weekly mon,mon 02:30", err: "mon is listed twice"},
		{when: "weekly 02:30", err: `write "weekly mon,thu 02:30"`},
		{when: "monthly 0 03:00", err: "must be 1 to 31"},
		{when: "monthly 32 03:00", err: "must be 1 to 31"},
		{when: "once 2026-02-30 18:00", err: "YYYY-MM-DD"},
		{when: "once tomorrow 18:00", err: "YYYY-MM-DD"},
	} {
		t.Run(tc.when, func(t *testing.T) {
			s, err := Parse(tc.when)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) error %v, want one containing %q", tc.when, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.when, err)
			}
			if s.String() != tc.canon || s.Window() != tc.window {
				t.Errorf("Parse(%q) = %q window %v, want %q window %v", tc.when, s, s.Window(), tc.canon, tc.window)
			}
		})
	}
}

// Due resolves wall times across daylight saving time changes: a skipped
// time at the end of the gap, a repeated time the first time.
func TestDue(t *testing.T) {
	for _, tc := range []struct {
		zone, wall, want string
	}{
		// New York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
		{"America/New_York", "2026-03-08T02:30:00", "2026-03-08T07:00:00Z"},
		{"America/New_York", "2026-03-08T02:00:00", "2026-03-08T07:00:00Z"},
		{"America/New_York", "2026-03-08T01:59:00", "2026-03-08T06:59:00Z"},
		{"America/New_York", "2026-03-08T03:00:00", "2026-03-08T07:00:00Z"},
		{"America/New_York", "2026-11-01T01:30:00", "2026-11-01T05:30:00Z"},
		{"America/New_York", "2026-11-01T00:59:00", "2026-11-01T04:59:00Z"},
		{"America/New_York", "2026-11-01T02:00:00", "2026-11-01T07:00:00Z"},
		{"America/New_York", "2026-07-01T02:30:00", "2026-07-01T06:30:00Z"},
		// London: 2026-03-29 01:00 GMT → 02:00 BST; 2026-10-25 02:00 BST → 01:00 GMT.
		{"Europe/London", "2026-03-29T01:30:00", "2026-03-29T01:00:00Z"},
		{"Europe/London", "2026-10-25T01:30:00", "2026-10-25T00:30:00Z"},
		{"Europe/London", "2026-12-24T18:00:00", "2026-12-24T18:00:00Z"},
		// Lord Howe shifts by 30 minutes: 2026-10-04 02:00 +10:30 → 02:30 +11;
		// 2026-04-05 02:00 +11 → 01:30 +10:30.
		{"Australia/Lord_Howe", "2026-10-04T02:15:00", "2026-10-03T15:30:00Z"},
		{"Australia/Lord_Howe", "2026-10-04T02:30:00", "2026-10-03T15:30:00Z"},
		{"Australia/Lord_Howe", "2026-04-05T01:45:00", "2026-04-04T14:45:00Z"},
		{"Australia/Lord_Howe", "2026-04-05T02:00:00", "2026-04-04T15:30:00Z"},
		// Kolkata has no daylight saving time and a half-hour offset.
		{"Asia/Kolkata", "2026-03-08T02:30:00", "2026-03-07T21:00:00Z"},
		{"UTC", "2026-03-08T02:30:00", "2026-03-08T02:30:00Z"},
	} {
		t.Run(tc.zone+" "+tc.wall, func(t *testing.T) {
			if got := Due(wall(tc.wall), zone(t, tc.zone)); !got.Equal(utc(tc.want)) {
				t.Errorf("Due(%s in %s) = %s, want %s", tc.wall, tc.zone, got.UTC().Format(time.RFC3339), tc.want)
			}
		})
	}
}

// wantOccurrence checks an occurrence found by call: label at due, or
// none when label is "".
func wantOccurrence(t *testing.T, call string, o Occurrence, ok bool, label, due string) {
	t.Helper()
	switch {
	case label == "" && ok:
		t.Errorf("%s = %s at %s, want none", call, o.Label, o.Due.UTC().Format(time.RFC3339))
	case label != "" && (!ok || o.Label != label || !o.Due.Equal(utc(due))):
		t.Errorf("%s = %s at %s (%v), want %s at %s", call, o.Label, o.Due.UTC().Format(time.RFC3339), ok, label, due)
	}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name, when, zone, after string
		label, due              string // "" label: none
	}{
		{"every aligned to midnight", "every 15m", "Europe/London", "2026-07-01T09:07:00Z", "2026-07-01T10:15:00", "2026-07-01T09:15:00Z"},
		{"every 7h restarts at midnight", "every 7h", "UTC", "2026-07-01T21:00:00Z", "2026-07-02T00:00:00", "2026-07-02T00:00:00Z"},
		{"every 7h", "every 7h", "UTC", "2026-07-01T07:00:00Z", "2026-07-01T14:00:00", "2026-07-01T14:00:00Z"},
		{"every in Kolkata", "every 2h", "Asia/Kolkata", "2026-07-01T00:00:00Z", "2026-07-01T06:00:00", "2026-07-01T00:30:00Z"},
		// The gap's four quarters and 03:00 are due at once: one run.
		{"every before the gap", "every 15m", "America/New_York", "2026-03-08T06:40:00Z", "2026-03-08T01:45:00", "2026-03-08T06:45:00Z"},
		{"every across the gap", "every 15m", "America/New_York", "2026-03-08T06:45:00Z", "2026-03-08T02:00:00", "2026-03-08T07:00:00Z"},
		{"every after the gap", "every 15m", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-08T03:15:00", "2026-03-08T07:15:00Z"},
		// 01:00 and 01:30 EST are the second time: skipped.
		{"every across fall back", "every 30m", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T02:00:00", "2026-11-01T07:00:00Z"},
		{"daily in the gap", "daily 02:30", "America/New_York", "2026-03-07T08:00:00Z", "2026-03-08T02:30:00", "2026-03-08T07:00:00Z"},
		{"daily repeated runs first", "daily 01:30", "America/New_York", "2026-10-31T06:00:00Z", "2026-11-01T01:30:00", "2026-11-01T05:30:00Z"},
		{"daily not twice on fall back", "daily 01:30", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T01:30:00", "2026-11-02T06:30:00Z"},
		{"daily Lord Howe gap", "daily 02:15", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", "2026-10-04T02:15:00", "2026-10-03T15:30:00Z"},
		{"daily Lord Howe fall back", "daily 01:45", "Australia/Lord_Howe", "2026-04-04T14:45:00Z", "2026-04-06T01:45:00", "2026-04-05T15:15:00Z"},
		{"daily London gap", "daily 01:30", "Europe/London", "2026-03-28T02:00:00Z", "2026-03-29T01:30:00", "2026-03-29T01:00:00Z"},
		{"weekly", "weekly mon,thu 02:30", "UTC", "2026-12-01T00:00:00Z", "2026-12-03T02:30:00", "2026-12-03T02:30:00Z"}, // a Tuesday
		{"weekly wraps", "weekly mon 02:30", "UTC", "2026-12-07T02:30:00Z", "2026-12-14T02:30:00", "2026-12-14T02:30:00Z"},
		{"monthly 31st in April", "monthly 31 03:00", "UTC", "2026-04-01T00:00:00Z", "2026-04-30T03:00:00", "2026-04-30T03:00:00Z"},
		{"monthly 31st in February", "monthly 31 03:00", "UTC", "2026-02-01T00:00:00Z", "2026-02-28T03:00:00", "2026-02-28T03:00:00Z"},
		{"monthly 29th leap year", "monthly 29 03:00", "UTC", "2028-02-01T00:00:00Z", "2028-02-29T03:00:00", "2028-02-29T03:00:00Z"},
		{"monthly 31st in March", "monthly 31 03:00", "UTC", "2026-03-01T00:00:00Z", "2026-03-31T03:00:00", "2026-03-31T03:00:00Z"},
		{"monthly Kolkata", "monthly 1 03:00", "Asia/Kolkata", "2026-11-30T00:00:00Z", "2026-12-01T03:00:00", "2026-11-30T21:30:00Z"},
		{"once ahead", "once 2026-12-24 18:00", "Europe/London", "2026-12-24T17:59:59Z", "2026-12-24T18:00:00", "2026-12-24T18:00:00Z"},
		{"once in the past", "once 2026-12-24 18:00", "Europe/London", "2026-12-24T18:00:00Z", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.when)
			if err != nil {
				t.Fatal(err)
			}
			o, ok := s.Next(utc(tc.after), zone(t, tc.zone))
			wantOccurrence(t, fmt.Sprintf("%q Next(%s) in %s", tc.when, tc.after, tc.zone), o, ok, tc.label, tc.due)
			if ok && !s.Occurs(o.Label) {
				t.Errorf("Occurs(%s) = false for an occurrence Next found", o.Label)
			}
		})
	}
}

func TestPrev(t *testing.T) {
	for _, tc := range []struct {
		name, when, zone, at string
		label, due           string
	}{
		{"every", "every 15m", "UTC", "2026-07-01T10:14:59Z", "2026-07-01T10:00:00", "2026-07-01T10:00:00Z"},
		{"every exact", "every 15m", "UTC", "2026-07-01T10:15:00Z", "2026-07-01T10:15:00", "2026-07-01T10:15:00Z"},
		// Inside the gap group Prev names the run Next named.
		{"every gap group", "every 15m", "America/New_York", "2026-03-08T07:05:00Z", "2026-03-08T02:00:00", "2026-03-08T07:00:00Z"},
		{"daily yesterday", "daily 02:30", "Asia/Kolkata", "2026-07-01T20:00:00Z", "2026-07-01T02:30:00", "2026-06-30T21:00:00Z"},
		{"monthly last month", "monthly 31 03:00", "UTC", "2026-05-15T00:00:00Z", "2026-04-30T03:00:00", "2026-04-30T03:00:00Z"},
		{"once past", "once 2026-12-24 18:00", "UTC", "2027-01-01T00:00:00Z", "2026-12-24T18:00:00", "2026-12-24T18:00:00Z"},
		{"once ahead", "once 2026-12-24 18:00", "UTC", "2026-01-01T00:00:00Z", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.when)
			if err != nil {
				t.Fatal(err)
			}
			o, ok := s.Prev(utc(tc.at), zone(t, tc.zone))
			wantOccurrence(t, fmt.Sprintf("%q Prev(%s) in %s", tc.when, tc.at, tc.zone), o, ok, tc.label, tc.due)
		})
	}
}

// Stepping with Next through 2026 in each zone visits every wall time
// once (none twice, whatever daylight saving time does), in order; gap
// wall times of one gap are visited once together.
func TestNextWalksAYear(t *testing.T) {
	for _, name := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"} {
		loc := zone(t, name)
		for _, tc := range []struct {
			when     string
			from, to string
			want     int
		}{
			{"daily 01:30", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 365},
			{"daily 02:15", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 365},
			// The months of the changes in all four zones.
			{"every 30m", "2026-03-01T00:00:00Z", "2026-04-10T00:00:00Z", 40 * 48},
			{"every 30m", "2026-10-01T00:00:00Z", "2026-11-05T00:00:00Z", 35 * 48},
		} {
			s, _ := Parse(tc.when)
			at := utc(tc.from)
			seen := map[string]bool{}
			var last time.Time
			for at.Before(utc(tc.to)) {
				o, ok := s.Next(at, loc)
				if !ok {
					t.Fatalf("%s %q: no occurrence after %s", name, tc.when, at)
				}
				if seen[o.Label] || !o.Due.After(last) {
					t.Fatalf("%s %q: %s at %s again or out of order", name, tc.when, o.Label, o.Due)
				}
				seen[o.Label], last, at = true, o.Due, o.Due
			}
			// Only gap wall times are missing, and at most a gap's.
			if len(seen) < tc.want-4 || len(seen) > tc.want+1 {
				t.Errorf("%s %q: %d occurrences from %s to %s, want about %d", name, tc.when, len(seen), tc.from, tc.to, tc.want)
			}
		}
	}
}

func TestOccurs(t *testing.T) {
	for _, tc := range []struct {
		when, label string
		want        bool
	}{
		{"every 15m", "2026-07-01T10:15:00", true},
		{"every 15m", "2026-07-01T10:16:00", false},
		{"every 7h", "2026-07-01T21:00:00", true},
		{"every 7h", "2026-07-02T04:00:00", false},
		{"daily 02:30", "2026-07-01T02:30:00", true},
		{"daily 02:30", "2026-07-01T02:30:01", false},
		{"weekly mon,thu 02:30", "2026-12-03T02:30:00", true},
		{"weekly mon,thu 02:30", "2026-12-02T02:30:00", false},
		{"monthly 31 03:00", "2026-04-30T03:00:00", true},
		{"monthly 31 03:00", "2026-05-30T03:00:00", false},
		{"monthly 31 03:00", "2026-05-31T03:00:00", true},
		{"once 2026-12-24 18:00", "2026-12-24T18:00:00", true},
		{"once 2026-12-24 18:00", "2025-12-24T18:00:00", false},
		{"daily 02:30", "2026-07-01 02:30:00", false},
		{"daily 02:30", "", false},
	} {
		s, err := Parse(tc.when)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Occurs(tc.label); got != tc.want {
			t.Errorf("%q Occurs(%q) = %v, want %v", tc.when, tc.label, got, tc.want)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"nightly-cleanup": true, "a": true, "x_1": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "-a": false, "Nightly": false, "a b": false, "é": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"every 15m", "daily 02:30", "weekly mon,thu 02:30", "monthly 31 03:00", "once 2026-12-24 18:00:05", "every 0h"} {
		f.Add(s)
	}
	loc := time.FixedZone("x", 5*3600+1800)
	f.Fuzz(func(t *testing.T, when string) {
		s, err := Parse(when)
		if err != nil {
			return
		}
		again, err := Parse(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("Parse(%q).String() = %q does not parse back: %v", when, s, err)
		}
		if o, ok := s.Next(utc("2026-01-01T00:00:00Z"), loc); ok && !s.Occurs(o.Label) {
			t.Fatalf("%q: Next gave %s, which Occurs refuses", when, o.Label)
		}
	})
}
