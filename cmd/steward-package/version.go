package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// versions is a build version as each package format wants it.
type versions struct {
	Full string // as given, shown in descriptions
	Pkg  string // .deb and .rpm: digits first, then [A-Za-z0-9.+~] only
	MSI  string // ProductVersion: major.minor.build, at most 255.255.65535
}

var (
	releaseRe  = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(.*)$`)
	describeRe = regexp.MustCompile(`^-(\d+)-g([0-9a-f]+)(-dirty)?$`) // git describe past a tag
	unsafeRe   = regexp.MustCompile(`[^A-Za-z0-9.]+`)
)

// parseVersion maps the version `make` stamps into the agent (git describe:
// "v1.4.0", "v1.4.0-rc.1", "v1.4.0-3-gabc1234-dirty", or a bare commit
// "482bceb" before the first tag) to package versions that sort the way
// the builds were made: a pre-release before its release (~), commits after
// a tag after it (+). A version without a tag is 0.0.0~dev.<commit>.
func parseVersion(v string) (versions, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return versions{}, usageError("--version is required")
	}
	m := releaseRe.FindStringSubmatch(v)
	if m == nil {
		return versions{Full: v, Pkg: "0.0.0~dev." + clean(v), MSI: "0.0.0"}, nil
	}
	limits := []int{255, 255, 65535}
	for i, lim := range limits {
		n, err := strconv.Atoi(m[i+1])
		if err != nil || n > lim {
			return versions{}, fmt.Errorf("version %s: an MSI version field is at most %d", v, lim)
		}
	}
	base := m[1] + "." + m[2] + "." + m[3]
	vs := versions{Full: v, Pkg: base, MSI: base}
	switch rest := m[4]; {
	case rest == "":
	case describeRe.MatchString(rest):
		d := describeRe.FindStringSubmatch(rest)
		vs.Pkg += "+" + d[1] + ".g" + d[2]
		if d[3] != "" {
			vs.Pkg += ".dirty"
		}
	default:
		vs.Pkg += "~" + clean(rest)
	}
	return vs, nil
}

// clean keeps letters, digits and dots, joining the rest with dots.
func clean(s string) string {
	return strings.Trim(unsafeRe.ReplaceAllString(s, "."), ".")
}
