// Package inventory stores agents' hardware, operating system and software
// reports and turns the difference between two reports into history:
// software installed, removed, upgraded or downgraded, memory, disks, CPU,
// firmware and operating system changed.
package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Change kinds recorded in the history.
const (
	// KindFirstReport marks an agent's first report (subject
	// "inventory"), or its first readable software list after reports
	// without one (subject "software"). It stands for the whole initial
	// state, so no install is recorded per program.
	KindFirstReport        = "first_report"
	KindSoftwareInstalled  = "software_installed"
	KindSoftwareRemoved    = "software_removed"
	KindSoftwareUpgraded   = "software_upgraded"
	KindSoftwareDowngraded = "software_downgraded"
	KindMemoryChanged      = "memory_changed"
	KindCPUChanged         = "cpu_changed"
	KindDiskAdded          = "disk_added"
	KindDiskRemoved        = "disk_removed"
	KindDiskChanged        = "disk_changed"
	KindOSChanged          = "os_changed"
	KindBIOSChanged        = "bios_changed"
	// KindSystemChanged is a new manufacturer, model or serial number:
	// the agent now runs on other hardware.
	KindSystemChanged = "system_changed"
	// KindSoftwareChanged stands for more than MaxSoftwareChanges program
	// changes in one report (subject "software"; new value counts them by
	// kind), so one report cannot flood the history.
	KindSoftwareChanged = "software_changed"
)

// MaxSoftwareChanges is the most program changes one report records one
// by one; beyond it they are summed up in one KindSoftwareChanged entry.
const MaxSoftwareChanges = 500

// FoldSoftware replaces the program changes in changes by one summary
// entry when there are more than MaxSoftwareChanges of them.
func FoldSoftware(changes []Change) []Change {
	counts := map[string]int{}
	n := 0
	for _, c := range changes {
		if isSoftwareKind(c.Kind) {
			counts[c.Kind]++
			n++
		}
	}
	if n <= MaxSoftwareChanges {
		return changes
	}
	out := slices.DeleteFunc(slices.Clone(changes), func(c Change) bool { return isSoftwareKind(c.Kind) })
	var parts []string
	for _, k := range []string{KindSoftwareInstalled, KindSoftwareRemoved, KindSoftwareUpgraded, KindSoftwareDowngraded} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.TrimPrefix(k, "software_")))
		}
	}
	return append(out, Change{Kind: KindSoftwareChanged, Subject: "software",
		New: fmt.Sprintf("%d programs changed: %s", n, strings.Join(parts, ", "))})
}

func isSoftwareKind(k string) bool {
	switch k {
	case KindSoftwareInstalled, KindSoftwareRemoved, KindSoftwareUpgraded, KindSoftwareDowngraded:
		return true
	}
	return false
}

// ValidKind reports whether k is a change kind.
func ValidKind(k string) bool {
	switch k {
	case KindFirstReport, KindSoftwareInstalled, KindSoftwareRemoved, KindSoftwareUpgraded, KindSoftwareDowngraded,
		KindMemoryChanged, KindCPUChanged, KindDiskAdded, KindDiskRemoved, KindDiskChanged, KindOSChanged,
		KindBIOSChanged, KindSystemChanged, KindSoftwareChanged:
		return true
	}
	return false
}

// Change is one difference between two reports. Old and New are short
// human-readable values; empty when there is none (an install has no
// Old).
type Change struct {
	Kind    string
	Subject string
	// Source is the software source for software changes.
	Source string
	Old    string
	New    string
}

// Diff returns what changed from old to new, software and system alike.
func Diff(old, new protocol.Inventory) []Change {
	return append(DiffSystem(old, new), DiffSoftware(old.Software, new.Software)...)
}

// DiffSystem compares hardware and operating system. A value counts as
// changed only when both reports know it: an empty field means the agent
// could not read it, which is not a change worth recording.
func DiffSystem(old, new protocol.Inventory) []Change {
	var out []Change
	add := func(kind, subject, o, n string) {
		if o != "" && n != "" && o != n {
			out = append(out, Change{Kind: kind, Subject: subject, Old: o, New: n})
		}
	}
	oh, nh := old.Hardware, new.Hardware
	add(KindSystemChanged, "system", describeSystem(oh), describeSystem(nh))
	add(KindBIOSChanged, "bios", describeBIOS(oh.BIOS), describeBIOS(nh.BIOS))
	add(KindCPUChanged, "cpu", describeCPU(oh.CPU), describeCPU(nh.CPU))
	if oh.MemoryBytes != 0 && nh.MemoryBytes != 0 {
		add(KindMemoryChanged, "memory", FormatBytes(oh.MemoryBytes), FormatBytes(nh.MemoryBytes))
	}
	add(KindOSChanged, "os", describeOS(old.OS), describeOS(new.OS))
	if len(oh.Disks) > 0 && len(nh.Disks) > 0 {
		out = append(out, diffDisks(oh.Disks, nh.Disks)...)
	}
	return out
}

// diffDisks matches disks by name: the operating system's name for a disk
// stays put while its contents change, and a new serial under the same
// name is a replaced disk.
func diffDisks(old, new []protocol.Disk) []Change {
	byName := func(ds []protocol.Disk) map[string]string {
		m := make(map[string]string, len(ds))
		for _, d := range ds {
			m[d.Name] = describeDisk(d)
		}
		return m
	}
	o, n := byName(old), byName(new)
	var out []Change
	for _, name := range sortedKeys(o, n) {
		ov, inOld := o[name]
		nv, inNew := n[name]
		switch {
		case !inNew:
			out = append(out, Change{Kind: KindDiskRemoved, Subject: name, Old: ov})
		case !inOld:
			out = append(out, Change{Kind: KindDiskAdded, Subject: name, New: nv})
		case ov != nv:
			out = append(out, Change{Kind: KindDiskChanged, Subject: name, Old: ov, New: nv})
		}
	}
	return out
}

func sortedKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// softwareKey identifies a program for the history: the same name found
// in the same source. Versions of it come and go; two sources (a 32-bit
// and a 64-bit build, say) are two programs.
type softwareKey struct{ name, source string }

// DiffSoftware compares two software lists. For each program (name and
// source), when exactly one version went and one came, that is an upgrade
// or a downgrade by CompareVersions; otherwise each version that went is a
// removal and each that came an install (several versions side by side,
// like kernels, come and go independently). Publisher and install date
// changes alone are not recorded.
func DiffSoftware(old, new []protocol.Software) []Change {
	// Sets, not lists: a report may hold thousands of versions of one
	// program, and the diff runs inside the upload's transaction.
	versions := func(list []protocol.Software) map[softwareKey]map[string]bool {
		m := map[softwareKey]map[string]bool{}
		for _, s := range list {
			k := softwareKey{s.Name, s.Source}
			if m[k] == nil {
				m[k] = map[string]bool{}
			}
			m[k][s.Version] = true
		}
		return m
	}
	o, n := versions(old), versions(new)
	keys := make([]softwareKey, 0, len(n))
	for k := range o {
		keys = append(keys, k)
	}
	for k := range n {
		if _, ok := o[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b softwareKey) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.source, b.source))
	})
	var out []Change
	for _, k := range keys {
		gone := without(o[k], n[k])
		came := without(n[k], o[k])
		if len(gone) == 1 && len(came) == 1 {
			kind := KindSoftwareUpgraded
			if CompareVersions(came[0], gone[0]) < 0 {
				kind = KindSoftwareDowngraded
			}
			out = append(out, Change{Kind: kind, Subject: k.name, Source: k.source, Old: gone[0], New: came[0]})
			continue
		}
		for _, v := range gone {
			out = append(out, Change{Kind: KindSoftwareRemoved, Subject: k.name, Source: k.source, Old: v})
		}
		for _, v := range came {
			out = append(out, Change{Kind: KindSoftwareInstalled, Subject: k.name, Source: k.source, New: v})
		}
	}
	return out
}

// without returns the values of a not in b, sorted.
func without(a, b map[string]bool) []string {
	var out []string
	for v := range a {
		if !b[v] {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, CompareVersions)
	return out
}

// CompareVersions orders version strings the way package managers mostly
// do: split into runs of digits and of other characters, compare digit
// runs as numbers and other runs as text, so "1.10" > "1.9" and
// "2.0.1" > "2.0". Strings that compare equal that way ("1.0" and "1.00")
// fall back to plain text order, so the result is 0 only for equal
// strings.
func CompareVersions(a, b string) int {
	x, y := a, b
	for x != "" && y != "" {
		var xs, ys string
		xs, x = splitRun(x)
		ys, y = splitRun(y)
		xd, yd := isDigit(xs[0]), isDigit(ys[0])
		switch {
		case xd && yd:
			xs, ys = strings.TrimLeft(xs, "0"), strings.TrimLeft(ys, "0")
			if c := cmp.Or(cmp.Compare(len(xs), len(ys)), strings.Compare(xs, ys)); c != 0 {
				return c
			}
		case xd != yd:
			// A number sorts after text at the same place.
			if xd {
				return 1
			}
			return -1
		default:
			if c := strings.Compare(xs, ys); c != 0 {
				return c
			}
		}
	}
	return cmp.Or(cmp.Compare(len(x), len(y)), strings.Compare(a, b))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitRun cuts s's leading run of digits or of non-digits.
func splitRun(s string) (run, rest string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

func describeSystem(h protocol.Hardware) string {
	return withNote(join(" ", h.Manufacturer, h.Model), labelled("serial ", h.Serial))
}

func describeBIOS(b protocol.BIOS) string {
	return withNote(join(" ", b.Vendor, b.Version), b.Date)
}

func describeCPU(c protocol.CPU) string {
	return join(", ", c.Model, counted(c.Cores, "cores"), counted(c.Threads, "threads"))
}

func describeOS(o protocol.OSInfo) string {
	return withNote(join(" ", o.Name, o.Version), labelled("build ", o.Build))
}

func describeDisk(d protocol.Disk) string {
	size := ""
	if d.SizeBytes > 0 {
		size = FormatBytes(d.SizeBytes)
	}
	if s := join(", ", d.Model, labelled("serial ", d.Serial), size); s != "" {
		return s
	}
	return "disk"
}

// withNote appends "(note)" to a known s.
func withNote(s, note string) string {
	if s == "" || note == "" {
		return s
	}
	return s + " (" + note + ")"
}

// labelled prefixes a known v with label.
func labelled(label, v string) string {
	if v == "" {
		return ""
	}
	return label + v
}

// counted is "8 cores", or empty for an unknown (zero) count.
func counted(n int, unit string) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// join joins the non-empty parts with sep.
func join(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// FormatBytes renders a size in binary units with one decimal, e.g.
// "15.5 GiB"; exact below 1 KiB.
func FormatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
