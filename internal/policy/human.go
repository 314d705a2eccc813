package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// HumanDuration says a duration in the largest unit that divides it:
// "400 days", "24 hours", "90 seconds", or "1 h 30 min" when none does.
func HumanDuration(d time.Duration) string {
	// Each unit is used alone up to a bound: "90 minutes", not "90,030 seconds".
	units := []struct {
		d, below time.Duration
		name     string
	}{{24 * time.Hour, 1 << 62, "day"}, {time.Hour, 1 << 62, "hour"}, {time.Minute, 24 * time.Hour, "minute"}, {time.Second, time.Hour, "second"}}
	if d <= 0 {
		return "0 seconds"
	}
	for _, u := range units {
		if d%u.d == 0 && d < u.below {
			return plural(int64(d/u.d), u.name)
		}
	}
	if d < time.Second {
		return d.String()
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, u.name))
			d -= n * u.d
		}
	}
	return strings.Join(parts, " ")
}

// HumanBytes says a size in the binary units the policy's defaults are
// written in: 16777216 → "16 MB", 65536 → "64 kB", 1536 → "1.5 kB".
func HumanBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 40, "TB"}, {1 << 30, "GB"}, {1 << 20, "MB"}, {1 << 10, "kB"}} {
		if n >= u.size {
			v := float64(n) / float64(u.size)
			return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + " " + u.name
		}
	}
	return plural(n, "byte")
}

// plural writes n and unit, with an "s" unless n is 1.
func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
