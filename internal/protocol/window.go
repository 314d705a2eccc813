package protocol

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// UpdateWindow is when an agent may install an update, in its own time
// zone: on some days of the week, between two wall-clock times. A window
// whose end is not after its start runs past midnight into the next day
// ("fri 22:00-04:00" is Friday night into Saturday morning). The zero
// UpdateWindow is any time.
type UpdateWindow struct {
	days       [7]bool // indexed by time.Weekday; the day the window opens
	start, end int     // minutes after midnight
	set        bool
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseUpdateWindow reads "" (any time) or "DAYS HH:MM-HH:MM", where DAYS
// is "daily", "weekdays", "weekends", or a comma-separated list of days
// and day ranges ("mon-fri", "sat,sun", "tue,thu").
func ParseUpdateWindow(s string) (UpdateWindow, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return UpdateWindow{}, nil
	}
	days, hours, ok := strings.Cut(s, " ")
	if !ok {
		return UpdateWindow{}, fmt.Errorf("update window %q: want DAYS HH:MM-HH:MM, e.g. \"mon-fri 22:00-04:00\"", s)
	}
	w := UpdateWindow{set: true}
	switch days {
	case "daily":
		days = "sun-sat"
	case "weekdays":
		days = "mon-fri"
	case "weekends":
		days = "sat,sun"
	}
	for _, part := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, ok1 := weekdayNames[from]
		b, ok2 := weekdayNames[to]
		if !isRange {
			b, ok2 = a, ok1
		}
		if !ok1 || !ok2 {
			return UpdateWindow{}, fmt.Errorf("update window %q: %q is not a day or day range (mon, tue, ..., mon-fri)", s, part)
		}
		for d := a; ; d = (d + 1) % 7 {
			w.days[d] = true
			if d == b {
				break
			}
		}
	}
	from, to, ok := strings.Cut(strings.TrimSpace(hours), "-")
	if !ok {
		return UpdateWindow{}, fmt.Errorf("update window %q: want hours as HH:MM-HH:MM", s)
	}
	var err error
	if w.start, err = clockMinutes(from); err != nil {
		return UpdateWindow{}, fmt.Errorf("update window %q: %w", s, err)
	}
	if w.end, err = clockMinutes(to); err != nil {
		return UpdateWindow{}, fmt.Errorf("update window %q: %w", s, err)
	}
	return w, nil
}

// clockMinutes reads "HH:MM" (24-hour) as minutes after midnight.
func clockMinutes(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh > 23 || mm > 59 || hh < 0 || mm < 0 {
		return 0, fmt.Errorf("%q is not a time HH:MM (00:00 to 23:59)", s)
	}
	return hh*60 + mm, nil
}

// Any reports whether the window is any time.
func (w UpdateWindow) Any() bool { return !w.set }

// length is the window's length in minutes (a whole day when start equals
// end).
func (w UpdateWindow) length() int {
	n := w.end - w.start
	if n <= 0 {
		n += 24 * 60
	}
	return n
}

// opening is when the window that opens on t's calendar day starts, in
// t's location; DST gaps move it as time.Date does.
func (w UpdateWindow) opening(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, w.start/60, w.start%60, 0, 0, t.Location())
}

// Contains reports whether t (in the agent's location) is in the window.
func (w UpdateWindow) Contains(t time.Time) bool {
	if !w.set {
		return true
	}
	// It may have opened today or, running past midnight, yesterday.
	for _, day := range []time.Time{t, t.AddDate(0, 0, -1)} {
		open := w.opening(day)
		if !w.days[open.Weekday()] {
			continue
		}
		closeAt := open.Add(time.Duration(w.length()) * time.Minute)
		if !t.Before(open) && t.Before(closeAt) {
			return true
		}
	}
	return false
}

// Next returns t when t is in the window, else when the window next opens.
func (w UpdateWindow) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	for i := 0; i <= 7; i++ {
		open := w.opening(t.AddDate(0, 0, i))
		if w.days[open.Weekday()] && open.After(t) {
			return open
		}
	}
	return t // no day at all cannot be parsed; unreachable
}

// String renders the window as ParseUpdateWindow reads it.
func (w UpdateWindow) String() string {
	if !w.set {
		return ""
	}
	var days []string
	for _, name := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		if w.days[weekdayNames[name]] {
			days = append(days, name)
		}
	}
	list := strings.Join(days, ",")
	switch list {
	case "mon,tue,wed,thu,fri,sat,sun":
		list = "daily"
	case "mon,tue,wed,thu,fri":
		list = "weekdays"
	case "sat,sun":
		list = "weekends"
	}
	return fmt.Sprintf("%s %02d:%02d-%02d:%02d", list, w.start/60, w.start%60, w.end/60, w.end%60)
}
