// Package schedule reads the `when` of a scheduled script ("every 15m",
// "daily 02:30", "weekly mon,thu 02:30", "monthly 1 03:00",
// "once 2026-12-24 18:00") and finds its occurrences in a time zone. The
// policy package validates with it, the agent decides with it when a
// schedule is due (in its own local time), and the server checks with it
// that an occurrence an agent reports is one. It depends on nothing of the
// module.
//
// An occurrence is named by its local wall time (Label, "2006-01-02T15:04:05"),
// the same for every agent whatever its time zone, and happens at Due, the
// instant that wall time is reached in the zone. Daylight saving time: a
// wall time that does not exist (skipped when clocks go forward) is due at
// the first instant after the gap; a wall time that happens twice (clocks
// go back) is due the first time only.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LabelLayout is the layout of an occurrence's Label.
const LabelLayout = "2006-01-02T15:04:05"

// Bounds of a schedule.
const (
	// MinEvery is the shortest interval of "every".
	MinEvery = 5 * time.Minute
	// MaxEvery is the longest: "daily" does the rest.
	MaxEvery = 24 * time.Hour
	// DefaultWindow is how long after its due time a missed occurrence
	// other than "every" still runs.
	DefaultWindow = time.Hour
	// MinWindow and MaxWindow bound a schedule's window.
	MinWindow = time.Minute
	MaxWindow = 7 * 24 * time.Hour
	// MaxNameLen bounds a schedule's name.
	MaxNameLen = 64
)

type kind int

const (
	kindEvery kind = iota + 1
	kindDaily
	kindWeekly
	kindMonthly
	kindOnce
)

// Spec is a parsed `when`. The zero value is not a schedule; get one from
// Parse.
type Spec struct {
	kind  kind
	every time.Duration
	days  [7]bool // weekly, by time.Weekday
	mday  int     // monthly
	date  time.Time
	clock time.Duration // time of day
	text  string
}

// Occurrence is one run of a schedule.
type Occurrence struct {
	// Label is the local wall time of the occurrence, LabelLayout.
	Label string
	// Due is the instant it is due in the zone it was computed for.
	Due time.Time
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Grammar is the `when` grammar as shown to users.
const Grammar = `"every 15m" or "every 2h" (at least 5m, aligned to local midnight), "daily 02:30", "weekly mon,thu 02:30", ` +
	`"monthly 1 03:00" (day 1 to 31; a shorter month runs on its last day), "once 2026-12-24 18:00"; times are the agent's local time`

// Parse reads a `when`. Its errors say what is wrong in words a user can
// act on.
func Parse(when string) (Spec, error) {
	f := strings.Fields(strings.ToLower(when))
	if len(f) == 0 {
		return Spec{}, errors.New("is empty; write " + Grammar)
	}
	s := Spec{text: strings.Join(f, " ")}
	need := func(n int, form string) error {
		if len(f) != n {
			return fmt.Errorf("%q: write %s", truncate(when), form)
		}
		return nil
	}
	var err error
	switch f[0] {
	case "every":
		if err := need(2, `"every 15m" or "every 2h"`); err != nil {
			return Spec{}, err
		}
		s.kind = kindEvery
		if s.every, err = parseEvery(f[1]); err != nil {
			return Spec{}, err
		}
	case "daily":
		if err := need(2, `"daily 02:30"`); err != nil {
			return Spec{}, err
		}
		s.kind = kindDaily
		if s.clock, err = parseClock(f[1]); err != nil {
			return Spec{}, err
		}
	case "weekly":
		if err := need(3, `"weekly mon,thu 02:30"`); err != nil {
			return Spec{}, err
		}
		s.kind = kindWeekly
		for _, d := range strings.Split(f[1], ",") {
			wd, ok := weekdays[d]
			switch {
			case !ok:
				return Spec{}, fmt.Errorf("%q is not a day; use mon, tue, wed, thu, fri, sat, sun", truncate(d))
			case s.days[wd]:
				return Spec{}, fmt.Errorf("%s is listed twice", d)
			}
			s.days[wd] = true
		}
		if s.clock, err = parseClock(f[2]); err != nil {
			return Spec{}, err
		}
	case "monthly":
		if err := need(3, `"monthly 1 03:00"`); err != nil {
			return Spec{}, err
		}
		s.kind = kindMonthly
		if s.mday, err = strconv.Atoi(f[1]); err != nil || s.mday < 1 || s.mday > 31 {
			return Spec{}, fmt.Errorf("day of the month %q must be 1 to 31", truncate(f[1]))
		}
		if s.clock, err = parseClock(f[2]); err != nil {
			return Spec{}, err
		}
	case "once":
		if err := need(3, `"once 2026-12-24 18:00"`); err != nil {
			return Spec{}, err
		}
		s.kind = kindOnce
		if s.date, err = time.Parse("2006-01-02", f[1]); err != nil {
			return Spec{}, fmt.Errorf("date %q must be YYYY-MM-DD", truncate(f[1]))
		}
		if s.clock, err = parseClock(f[2]); err != nil {
			return Spec{}, err
		}
	default:
		return Spec{}, fmt.Errorf("%q: start with every, daily, weekly, monthly or once", truncate(f[0]))
	}
	return s, nil
}

func parseEvery(v string) (time.Duration, error) {
	bad := fmt.Errorf("interval %q must be a whole number of minutes or hours such as 15m or 2h", truncate(v))
	if len(v) < 2 || (v[len(v)-1] != 'm' && v[len(v)-1] != 'h') {
		return 0, bad
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n <= 0 || n > 24*60 {
		return 0, bad
	}
	d := time.Duration(n) * time.Minute
	if v[len(v)-1] == 'h' {
		d = time.Duration(n) * time.Hour
	}
	switch {
	case d < MinEvery:
		return 0, fmt.Errorf("interval %s is shorter than %s", v, "5m")
	case d > MaxEvery:
		return 0, fmt.Errorf("interval %s is longer than 24h; use daily", v)
	}
	return d, nil
}

// parseClock reads "15:04" or "15:04:05".
func parseClock(v string) (time.Duration, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("time %q must be HH:MM or HH:MM:SS", truncate(v))
	}
	limits := []int{23, 59, 59}
	units := []time.Duration{time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) != 2 || n < 0 || n > limits[i] {
			return 0, fmt.Errorf("time %q must be HH:MM or HH:MM:SS, 00:00 to 23:59:59", truncate(v))
		}
		d += time.Duration(n) * units[i]
	}
	return d, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// String returns the `when` it was parsed from, spaces and case normalized.
func (s Spec) String() string { return s.text }

// Window returns the default window of the schedule: its interval for
// "every", DefaultWindow otherwise.
func (s Spec) Window() time.Duration {
	if s.kind == kindEvery {
		return s.every
	}
	return DefaultWindow
}

// Next returns the first occurrence due after after, in loc; false when
// there is none (a "once" in the past).
func (s Spec) Next(after time.Time, loc *time.Location) (Occurrence, bool) {
	if s.kind == kindOnce {
		o := occurrence(s.date.Add(s.clock), loc)
		return o, o.Due.After(after)
	}
	// A day's occurrences are due at most a few hours off its wall
	// times, so the day before after's local date may still hold one.
	day := dateOf(after.In(loc)).AddDate(0, 0, -1)
	for range maxDays {
		for _, o := range s.onDay(day, loc) {
			if o.Due.After(after) {
				return o, true
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return Occurrence{}, false
}

// Prev returns the last occurrence due at or before at, in loc; false
// when there is none. Of occurrences due at the same instant (wall times
// in one spring-forward gap), it returns the first, as Next does.
func (s Spec) Prev(at time.Time, loc *time.Location) (Occurrence, bool) {
	if s.kind == kindOnce {
		o := occurrence(s.date.Add(s.clock), loc)
		return o, !o.Due.After(at)
	}
	day := dateOf(at.In(loc)).AddDate(0, 0, 1)
	for range maxDays {
		occs := s.onDay(day, loc)
		best := -1
		for i, o := range occs {
			if !o.Due.After(at) && (best < 0 || o.Due.After(occs[best].Due)) {
				best = i
			}
		}
		if best >= 0 {
			return occs[best], true
		}
		day = day.AddDate(0, 0, -1)
	}
	return Occurrence{}, false
}

// maxDays bounds the days searched: a monthly schedule occurs at least
// once in any 32 days.
const maxDays = 64

// Occurs reports whether label (LabelLayout) is a wall time the schedule
// occurs at, whatever the time zone.
func (s Spec) Occurs(label string) bool {
	w, err := time.Parse(LabelLayout, label)
	if err != nil || s.kind == 0 {
		return false
	}
	for _, o := range s.wallTimes(dateOf(w)) {
		if o.Equal(w) {
			return true
		}
	}
	return false
}

// onDay returns the occurrences whose wall times fall on the local date
// day (midnight UTC standing for that date), in order.
func (s Spec) onDay(day time.Time, loc *time.Location) []Occurrence {
	walls := s.wallTimes(day)
	out := make([]Occurrence, len(walls))
	for i, w := range walls {
		out[i] = occurrence(w, loc)
	}
	return out
}

// wallTimes returns the wall times (as UTC times standing for local ones)
// of the schedule on the date day.
func (s Spec) wallTimes(day time.Time) []time.Time {
	switch s.kind {
	case kindEvery:
		out := make([]time.Time, 0, int(24*time.Hour/s.every)+1)
		for t := time.Duration(0); t < 24*time.Hour; t += s.every {
			out = append(out, day.Add(t))
		}
		return out
	case kindDaily:
	case kindWeekly:
		if !s.days[day.Weekday()] {
			return nil
		}
	case kindMonthly:
		last := time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if day.Day() != min(s.mday, last) {
			return nil
		}
	case kindOnce:
		if !day.Equal(s.date) {
			return nil
		}
	default:
		return nil
	}
	return []time.Time{day.Add(s.clock)}
}

func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func occurrence(wall time.Time, loc *time.Location) Occurrence {
	return Occurrence{Label: wall.Format(LabelLayout), Due: Due(wall, loc)}
}

// Due returns the instant the wall time wall (its fields read as a local
// time in loc) is reached: in a spring-forward gap, the first instant
// after the gap; when the wall time happens twice, the first time.
func Due(wall time.Time, loc *time.Location) time.Time {
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, loc)
	got := wallOf(t)
	start, end := t.ZoneBounds()
	switch {
	case got.After(wall):
		// Read with the offset before the gap, it lands past the gap, in
		// the zone that begins where the gap ends.
		return start
	case got.Before(wall):
		// Read with the offset after the gap, it lands before it, in the
		// zone that ends where the gap begins.
		return end
	}
	if start.IsZero() {
		return t
	}
	// Clocks went back at start: the same wall time may have happened
	// before it with the earlier, larger offset.
	_, off := t.Zone()
	if _, prev := start.Add(-time.Nanosecond).Zone(); prev > off {
		if c := t.Add(-time.Duration(prev-off) * time.Second); c.Before(start) && wallOf(c).Equal(wall) {
			return c
		}
	}
	return t
}

func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// ValidName reports whether name can name a schedule: 1 to MaxNameLen
// lower-case letters, digits, '-' and '_', starting with a letter or digit.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLen || name[0] == '-' || name[0] == '_' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
