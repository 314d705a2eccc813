package inventory

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

func sw(name, version, source string) protocol.Software {
	return protocol.Software{Name: name, Version: version, Source: source, Publisher: "Pub"}
}

func TestDiffSoftware(t *testing.T) {
	t.Parallel()
	const dpkg, r64, r32 = protocol.SoftwareDpkg, protocol.SoftwareRegistry64, protocol.SoftwareRegistry32
	tests := []struct {
		name     string
		old, new []protocol.Software
		want     []Change
	}{
		{"unchanged", []protocol.Software{sw("curl", "8.5", dpkg)}, []protocol.Software{sw("curl", "8.5", dpkg)}, nil},
		{"install", nil, []protocol.Software{sw("curl", "8.5", dpkg)},
			[]Change{{Kind: KindSoftwareInstalled, Subject: "curl", Source: dpkg, New: "8.5"}}},
		{"remove", []protocol.Software{sw("curl", "8.5", dpkg), sw("zsh", "5.9", dpkg)}, []protocol.Software{sw("zsh", "5.9", dpkg)},
			[]Change{{Kind: KindSoftwareRemoved, Subject: "curl", Source: dpkg, Old: "8.5"}}},
		{"upgrade by number, not text", []protocol.Software{sw("Firefox", "128.9.0", r64)}, []protocol.Software{sw("Firefox", "128.10.0", r64)},
			[]Change{{Kind: KindSoftwareUpgraded, Subject: "Firefox", Source: r64, Old: "128.9.0", New: "128.10.0"}}},
		{"downgrade", []protocol.Software{sw("Firefox", "129.0", r64)}, []protocol.Software{sw("Firefox", "128.0", r64)},
			[]Change{{Kind: KindSoftwareDowngraded, Subject: "Firefox", Source: r64, Old: "129.0", New: "128.0"}}},
		{"same program from two sources changes separately",
			[]protocol.Software{sw("7-Zip", "23.01", r64), sw("7-Zip", "23.01", r32)},
			[]protocol.Software{sw("7-Zip", "24.08", r64), sw("7-Zip", "23.01", r32)},
			[]Change{{Kind: KindSoftwareUpgraded, Subject: "7-Zip", Source: r64, Old: "23.01", New: "24.08"}}},
		{"a second source is an install, not an upgrade",
			[]protocol.Software{sw("7-Zip", "23.01", r64)},
			[]protocol.Software{sw("7-Zip", "23.01", r64), sw("7-Zip", "24.08", r32)},
			[]Change{{Kind: KindSoftwareInstalled, Subject: "7-Zip", Source: r32, New: "24.08"}}},
		{"versions side by side come and go independently",
			[]protocol.Software{sw("linux-image", "6.8.0-40", dpkg), sw("linux-image", "6.8.0-41", dpkg)},
			[]protocol.Software{sw("linux-image", "6.8.0-41", dpkg), sw("linux-image", "6.8.0-45", dpkg), sw("linux-image", "6.8.0-47", dpkg)},
			[]Change{
				{Kind: KindSoftwareRemoved, Subject: "linux-image", Source: dpkg, Old: "6.8.0-40"},
				{Kind: KindSoftwareInstalled, Subject: "linux-image", Source: dpkg, New: "6.8.0-45"},
				{Kind: KindSoftwareInstalled, Subject: "linux-image", Source: dpkg, New: "6.8.0-47"},
			}},
		{"duplicate entries count once", []protocol.Software{sw("curl", "8.5", dpkg)}, []protocol.Software{sw("curl", "8.5", dpkg), sw("curl", "8.5", dpkg)}, nil},
		{"publisher change alone is not recorded", []protocol.Software{sw("curl", "8.5", dpkg)},
			[]protocol.Software{{Name: "curl", Version: "8.5", Source: dpkg, Publisher: "Other"}}, nil},
		{"sorted by name", nil, []protocol.Software{sw("zsh", "5.9", dpkg), sw("bash", "5.2", dpkg)},
			[]Change{{Kind: KindSoftwareInstalled, Subject: "bash", Source: dpkg, New: "5.2"}, {Kind: KindSoftwareInstalled, Subject: "zsh", Source: dpkg, New: "5.9"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, DiffSoftware(tt.old, tt.new)); diff != "" {
				t.Errorf("DiffSoftware (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffSystem(t *testing.T) {
	t.Parallel()
	const gib = 1 << 30
	base := func() protocol.Inventory {
		return protocol.Inventory{
			Hardware: protocol.Hardware{
				Manufacturer: "Dell Inc.", Model: "OptiPlex 7010", Serial: "ABC123",
				BIOS:        protocol.BIOS{Vendor: "Dell", Version: "1.2.0", Date: "2024-01-05"},
				CPU:         protocol.CPU{Model: "i5-13500", Cores: 14, Threads: 20},
				MemoryBytes: 16 * gib,
				Disks:       []protocol.Disk{{Name: "nvme0n1", Model: "PM9A1", Serial: "S1", SizeBytes: 512 * gib}},
			},
			OS: protocol.OSInfo{Name: "Windows 11 Pro", Version: "23H2", Build: "22631.4460"},
		}
	}
	tests := []struct {
		name   string
		change func(*protocol.Inventory)
		want   []Change
	}{
		{"unchanged", func(*protocol.Inventory) {}, nil},
		{"RAM added", func(i *protocol.Inventory) { i.Hardware.MemoryBytes = 32 * gib },
			[]Change{{Kind: KindMemoryChanged, Subject: "memory", Old: "16.0 GiB", New: "32.0 GiB"}}},
		{"RAM unknown now is no change", func(i *protocol.Inventory) { i.Hardware.MemoryBytes = 0 }, nil},
		{"disk added", func(i *protocol.Inventory) {
			i.Hardware.Disks = append(i.Hardware.Disks, protocol.Disk{Name: "sda", Model: "WD Blue", SizeBytes: 1 << 40})
		}, []Change{{Kind: KindDiskAdded, Subject: "sda", New: "WD Blue, 1.0 TiB"}}},
		{"disk removed", func(i *protocol.Inventory) {
			i.Hardware.Disks = append(i.Hardware.Disks, protocol.Disk{Name: "sda"})
			i.Hardware.Disks = i.Hardware.Disks[1:]
		}, []Change{
			{Kind: KindDiskRemoved, Subject: "nvme0n1", Old: "PM9A1, serial S1, 512.0 GiB"},
			{Kind: KindDiskAdded, Subject: "sda", New: "disk"},
		}},
		{"disk resized", func(i *protocol.Inventory) { i.Hardware.Disks[0].SizeBytes = 1 << 40 },
			[]Change{{Kind: KindDiskChanged, Subject: "nvme0n1", Old: "PM9A1, serial S1, 512.0 GiB", New: "PM9A1, serial S1, 1.0 TiB"}}},
		{"disks unreadable is no removal", func(i *protocol.Inventory) { i.Hardware.Disks = nil }, nil},
		{"OS build", func(i *protocol.Inventory) { i.OS.Build = "22631.4602" },
			[]Change{{Kind: KindOSChanged, Subject: "os", Old: "Windows 11 Pro 23H2 (build 22631.4460)", New: "Windows 11 Pro 23H2 (build 22631.4602)"}}},
		{"BIOS update", func(i *protocol.Inventory) { i.Hardware.BIOS.Version, i.Hardware.BIOS.Date = "1.3.0", "2024-06-01" },
			[]Change{{Kind: KindBIOSChanged, Subject: "bios", Old: "Dell 1.2.0 (2024-01-05)", New: "Dell 1.3.0 (2024-06-01)"}}},
		{"CPU", func(i *protocol.Inventory) { i.Hardware.CPU = protocol.CPU{Model: "i7-13700", Cores: 16, Threads: 24} },
			[]Change{{Kind: KindCPUChanged, Subject: "cpu", Old: "i5-13500, 14 cores, 20 threads", New: "i7-13700, 16 cores, 24 threads"}}},
		{"new mainboard", func(i *protocol.Inventory) { i.Hardware.Serial = "XYZ789" },
			[]Change{{Kind: KindSystemChanged, Subject: "system", Old: "Dell Inc. OptiPlex 7010 (serial ABC123)", New: "Dell Inc. OptiPlex 7010 (serial XYZ789)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base()
			tt.change(&next)
			if diff := cmp.Diff(tt.want, Diff(base(), next)); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.10", "1.9", 1},
		{"2.0", "2.0.1", -1},
		{"128.0.6613.120", "128.0.6613.84", 1},
		{"1.0.1", "1.0-rc", 1},
		{"1:2.3", "1:2.10", -1},
		{"010", "9", 1},
		{"1.0", "1.00", -1}, // equal as versions: text order decides
		{"", "1", -1},
		{"abc", "abd", -1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) got %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareVersions(%q, %q) got %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 16 << 30: "16.0 GiB", 1 << 40: "1.0 TiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) got %q, want %q", n, got, want)
		}
	}
}

// FuzzCompareVersions checks that versions from agents, which can be any
// text, never panic and order consistently.
func FuzzCompareVersions(f *testing.F) {
	for _, s := range [][2]string{{"1.10", "1.9"}, {"", "0"}, {"1:2.3-4ubuntu1", "1:2.3-4"}, {"007", "7"}, {"é1", "e1"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba {
			t.Errorf("CompareVersions(%q, %q) = %d but reversed %d", a, b, ab, ba)
		}
		if (ab == 0) != (a == b) {
			t.Errorf("CompareVersions(%q, %q) = %d", a, b, ab)
		}
	})
}

// TestDiffSoftwareManyVersionsScalesLinearly diffs one program listed in
// thousands of versions (a report is untrusted and the diff runs inside the
// upload's transaction): forty times the versions must cost far less than
// the 1,600 times the time a comparison of every pair would. It measures
// the thread's CPU time, not the wall clock, so a loaded machine does not
// skew the ratio.
func TestDiffSoftwareManyVersionsScalesLinearly(t *testing.T) {
	now := cpuTimer(t)
	lists := func(n int) (old, new []protocol.Software) {
		for i := range n {
			old = append(old, protocol.Software{Name: "kernel", Version: fmt.Sprintf("1.%d", i), Source: protocol.SoftwareRPM})
			new = append(new, protocol.Software{Name: "kernel", Version: fmt.Sprintf("2.%d", i), Source: protocol.SoftwareRPM})
		}
		return old, new
	}
	fastest := func(n int) time.Duration {
		old, new := lists(n)
		best := time.Duration(math.MaxInt64)
		for range 3 {
			start := now()
			if got := len(DiffSoftware(old, new)); got != 2*n {
				t.Fatalf("DiffSoftware of %d versions each gave %d changes, want %d", n, got, 2*n)
			}
			best = min(best, now()-start)
		}
		return best
	}
	small, large := fastest(protocol.MaxSoftware/40), fastest(protocol.MaxSoftware)
	if ratio := float64(large) / float64(small); ratio > 400 {
		t.Errorf("DiffSoftware took %v for %d versions and %v for %d: %.0f times as long, want under 400 (about linear)",
			small, protocol.MaxSoftware/40, large, protocol.MaxSoftware, ratio)
	}
}

func TestFoldSoftware(t *testing.T) {
	changes := func(n int, kind string) []Change {
		out := make([]Change, n)
		for i := range out {
			out[i] = Change{Kind: kind, Subject: fmt.Sprintf("p%d", i), New: "1"}
		}
		return out
	}
	mem := Change{Kind: KindMemoryChanged, Subject: "memory", Old: "8.0 GiB", New: "16.0 GiB"}
	tests := []struct {
		name  string
		in    []Change
		kinds []string
		note  string
	}{
		{"at the limit stays itemised", changes(MaxSoftwareChanges, KindSoftwareInstalled), nil, ""},
		{"over the limit folds", append(append(changes(400, KindSoftwareInstalled), changes(101, KindSoftwareRemoved)...), mem),
			[]string{KindMemoryChanged, KindSoftwareChanged}, "501 programs changed: 400 installed, 101 removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FoldSoftware(tt.in)
			if tt.kinds == nil {
				if len(got) != len(tt.in) {
					t.Errorf("FoldSoftware kept %d of %d changes", len(got), len(tt.in))
				}
				return
			}
			var kinds []string
			for _, c := range got {
				kinds = append(kinds, c.Kind)
			}
			if diff := cmp.Diff(tt.kinds, kinds); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			if last := got[len(got)-1]; last.New != tt.note {
				t.Errorf("summary = %q, want %q", last.New, tt.note)
			}
		})
	}
}
