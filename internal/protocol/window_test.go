package protocol

import (
	"testing"
	"time"
)

func TestUpdateWindow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		window string
		t      string
		in     bool
		next   string
	}{
		{"", "2026-12-04 12:00", true, "2026-12-04 12:00"},
		// Friday 2026-12-04.
		{"mon-fri 22:00-04:00", "2026-12-04 21:59", false, "2026-12-04 22:00"},
		{"mon-fri 22:00-04:00", "2026-12-04 23:30", true, "2026-12-04 23:30"},
		{"mon-fri 22:00-04:00", "2026-12-05 03:59", true, "2026-12-05 03:59"}, // Saturday morning: Friday's window
		{"mon-fri 22:00-04:00", "2026-12-05 04:00", false, "2026-12-07 22:00"},
		{"weekends 01:00-05:00", "2026-12-04 12:00", false, "2026-12-05 01:00"},
		{"tue,thu 12:00-13:00", "2026-12-04 12:30", false, "2026-12-08 12:00"},
		{"daily 00:00-00:00", "2026-12-04 17:17", true, "2026-12-04 17:17"},
		{"sat-mon 10:00-11:00", "2026-12-07 10:30", true, "2026-12-07 10:30"}, // wraps the week
		// DST: 2026-03-29 02:00 jumps to 03:00 in Berlin; a 02:30 opening
		// happens at 03:30 wall time.
		{"sun 02:30-03:45", "2026-03-29 01:00", false, "2026-03-29 03:30"},
		// 2026-10-25 03:00 falls back to 02:00: the window still holds.
		{"sun 02:00-04:00", "2026-10-25 02:30", true, "2026-10-25 02:30"},
	}
	for _, tt := range tests {
		w, err := ParseUpdateWindow(tt.window)
		if err != nil {
			t.Fatalf("ParseUpdateWindow(%q): %v", tt.window, err)
		}
		tm := at(tt.t)
		if got := w.Contains(tm); got != tt.in {
			t.Errorf("%q contains %s = %v, want %v", tt.window, tt.t, got, tt.in)
		}
		if got := w.Next(tm); !got.Equal(at(tt.next)) {
			t.Errorf("%q next after %s = %s, want %s", tt.window, tt.t, got.Format("2006-01-02 15:04 Mon"), tt.next)
		}
		if again, err := ParseUpdateWindow(w.String()); err != nil || again != w {
			t.Errorf("%q does not survive String(): %q %v", tt.window, w.String(), err)
		}
	}
	for _, bad := range []string{"mon", "mon 22:00", "noday 10:00-11:00", "mon 24:00-01:00", "mon 9:00-10:00", "mon 10:00-10:60", "mon-xyz 10:00-11:00", "mon,,tue 10:00-11:00"} {
		if _, err := ParseUpdateWindow(bad); err == nil {
			t.Errorf("ParseUpdateWindow(%q) accepted", bad)
		}
	}
}

func FuzzParseUpdateWindow(f *testing.F) {
	for _, s := range []string{"", "mon-fri 22:00-04:00", "daily 00:00-00:00", "sat,sun 01:00-05:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseUpdateWindow(s)
		if err != nil {
			return
		}
		again, err := ParseUpdateWindow(w.String())
		if err != nil || again != w {
			t.Fatalf("%q → %q does not parse back the same: %v", s, w.String(), err)
		}
		now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		if n := w.Next(now); n.Before(now) || !w.Contains(n) {
			t.Fatalf("%q: Next(%v) = %v, not in the window", s, now, n)
		}
	})
}

func TestUpdateWindowStringNamesDaySets(t *testing.T) {
	for _, s := range []string{"daily 01:00-02:00", "weekdays 22:00-04:00", "weekends 00:00-00:00", "mon,wed 10:30-11:00"} {
		w, err := ParseUpdateWindow(s)
		if err != nil || w.String() != s {
			t.Errorf("ParseUpdateWindow(%q).String() = %q (%v)", s, w.String(), err)
		}
	}
}
