package inventory

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/winetest"
	"github.com/steward-rmm/steward/internal/protocol"
)

func TestCollectOnThisHost(t *testing.T) {
	start := time.Now()
	inv := Collect(t.Context(), protocol.InventoryStart)
	took := time.Since(start)
	if err := inv.Validate(time.Now()); err != nil {
		t.Fatalf("Collect's report does not validate: %v", err)
	}
	body, err := protocol.EncodeInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collected in %s: %d software entries, %d disks, %d adapters, errors %q; upload %d bytes gzipped",
		took, len(inv.Software), len(inv.Hardware.Disks), len(inv.Hardware.NetworkAdapters), inv.Errors, len(body))
	if inv.Reason != protocol.InventoryStart || inv.CollectedAt.IsZero() {
		t.Errorf("got reason %q collected at %v", inv.Reason, inv.CollectedAt)
	}
	if inv.OS.Name == "" || inv.OS.Build == "" || inv.OS.LastBoot.IsZero() {
		t.Errorf("OS facts missing: %+v", inv.OS)
	}
	if inv.Hardware.MemoryBytes == 0 {
		t.Errorf("memory missing: %+v", inv.Hardware)
	}
	// Wine has no SMBIOS processor table (scripts/wine/README.md).
	if inv.Hardware.CPU.Threads == 0 && !winetest.Detected() {
		t.Errorf("CPU missing: %+v", inv.Hardware)
	}
	dpkg := 0
	for _, s := range inv.Software {
		if s.Source == protocol.SoftwareDpkg {
			dpkg++
		}
	}
	if hasDpkg(t) && dpkg == 0 {
		t.Error("this host has a dpkg database, but the report lists no dpkg packages")
	}
	got, err := protocol.DecodeInventoryBody(strings.NewReader(string(body)), true)
	if err != nil {
		t.Fatalf("server-side decode: %v", err)
	}
	if len(got.Software) != len(inv.Software) {
		t.Errorf("decoded %d software entries, want %d", len(got.Software), len(inv.Software))
	}
}

func TestSanitize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("é", 400) // 800 bytes
	in := protocol.Inventory{
		CollectedAt: now, Reason: protocol.InventorySchedule,
		Hardware: protocol.Hardware{
			Manufacturer: "Dell\x00 Inc.\n", Model: long,
			CPU:   protocol.CPU{Cores: -1, Threads: 1 << 20},
			Disks: []protocol.Disk{{Name: "sdb"}, {Name: " "}, {Name: "sda", Model: "\x1b[31mred"}},
			NetworkAdapters: []protocol.NetworkAdapter{
				{Name: "eth1", MAC: "not-a-mac", IPs: []string{"10.0.0.2/24", "garbage", "::ffff:10.0.0.3", "10.0.0.2/24"}},
				{Name: "eth0", MAC: "AA:BB:CC:DD:EE:FF"},
				{Name: ""},
			},
		},
		OS: protocol.OSInfo{Name: "Debian\tGNU/Linux", InstallDate: now.Add(48 * time.Hour), LastBoot: now.Add(-time.Hour)},
		Software: []protocol.Software{
			{Name: "zsh", Version: "5.9", Source: protocol.SoftwareDpkg},
			{Name: "", Version: "1", Source: protocol.SoftwareDpkg},
			{Name: "Apache", Version: "2", Source: protocol.SoftwareRPM, InstallDate: "2024-13-01"},
			{Name: "apt", Version: "2.6", Source: protocol.SoftwareDpkg},
			{Name: "7-Zip", Version: "24", Publisher: "Igor", Source: protocol.SoftwareRegistry64},
			{Name: "7-Zip", Version: "24", Publisher: "Igor", Source: protocol.SoftwareRegistry32},
			{Name: "bad\u0085name", Source: protocol.SoftwareDpkg},
		},
	}
	for i := range 40 {
		in.Errors = append(in.Errors, "part: failure\r\n"+strings.Repeat("x", i))
	}
	got := Sanitize(in, now)
	if err := got.Validate(now); err != nil {
		t.Fatalf("sanitized report does not validate: %v", err)
	}
	if got.Hardware.Manufacturer != "Dell Inc." {
		t.Errorf("manufacturer got %q, want %q", got.Hardware.Manufacturer, "Dell Inc.")
	}
	if n := len(got.Hardware.Model); n > maxText || n < maxText-1 {
		t.Errorf("model is %d bytes, want cut to %d", n, maxText)
	}
	if got.Hardware.CPU != (protocol.CPU{Cores: 0, Threads: 1 << 16}) {
		t.Errorf("cpu got %+v, want clamped", got.Hardware.CPU)
	}
	wantDisks := []protocol.Disk{{Name: "sda", Model: "[31mred"}, {Name: "sdb"}}
	if diff := cmp.Diff(wantDisks, got.Hardware.Disks); diff != "" {
		t.Errorf("disks (-want +got):\n%s", diff)
	}
	wantNICs := []protocol.NetworkAdapter{
		{Name: "eth0", MAC: "aa:bb:cc:dd:ee:ff"},
		{Name: "eth1", IPs: []string{"10.0.0.2/24", "10.0.0.3"}},
	}
	if diff := cmp.Diff(wantNICs, got.Hardware.NetworkAdapters); diff != "" {
		t.Errorf("adapters (-want +got):\n%s", diff)
	}
	if got.OS.Name != "Debian GNU/Linux" || !got.OS.InstallDate.IsZero() || got.OS.LastBoot.IsZero() {
		t.Errorf("os got %+v, want cleaned name, future install date cleared, boot kept", got.OS)
	}
	wantSW := []protocol.Software{
		{Name: "7-Zip", Version: "24", Publisher: "Igor", Source: protocol.SoftwareRegistry64},
		{Name: "Apache", Version: "2", Source: protocol.SoftwareRPM},
		{Name: "apt", Version: "2.6", Source: protocol.SoftwareDpkg},
		{Name: "bad name", Source: protocol.SoftwareDpkg},
		{Name: "zsh", Version: "5.9", Source: protocol.SoftwareDpkg},
	}
	if diff := cmp.Diff(wantSW, got.Software); diff != "" {
		t.Errorf("software (-want +got):\n%s", diff)
	}
	if n := len(got.Errors); n != protocol.MaxInventoryErrors {
		t.Errorf("got %d errors, want capped at %d", n, protocol.MaxInventoryErrors)
	}
	if last := got.Errors[len(got.Errors)-1]; last != "9 more errors" {
		t.Errorf("last error got %q, want a count of the rest", last)
	}
}

func TestSanitizeCapsSoftware(t *testing.T) {
	now := time.Now()
	inv := protocol.Inventory{CollectedAt: now, Reason: protocol.InventoryRequest}
	for i := range protocol.MaxSoftware + 10 {
		inv.Software = append(inv.Software, protocol.Software{Name: "pkg", Version: fmt.Sprintf("%05d", i), Source: protocol.SoftwareDpkg})
	}
	got := Sanitize(inv, now)
	if len(got.Software) != protocol.MaxSoftware {
		t.Errorf("got %d entries, want %d", len(got.Software), protocol.MaxSoftware)
	}
	if err := got.Validate(now); err != nil {
		t.Error(err)
	}
}

// hasDpkg reports whether this host keeps a dpkg database (Debian and
// its derivatives).
func hasDpkg(t *testing.T) bool {
	t.Helper()
	// Under wine, Z:\ is the Linux host's root: its dpkg database is not
	// this Windows host's.
	if runtime.GOOS != "linux" {
		return false
	}
	_, err := os.Stat("/var/lib/dpkg/status")
	return err == nil
}

func TestZoneFromLink(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/share/zoneinfo/Europe/Berlin":        "Europe/Berlin",
		"../usr/share/zoneinfo/Etc/UTC":            "Etc/UTC",
		"/var/db/timezone/zoneinfo/America/Denver": "America/Denver",
		"/usr/share/zoneinfo/posix/Asia/Tokyo":     "Asia/Tokyo",
		"/etc/custom-zone":                         "",
	} {
		if got := zoneFromLink(in); got != want {
			t.Errorf("zoneFromLink(%q) got %q, want %q", in, got, want)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("name", "1.0", "pub", "2024-01-02", "eth0", "aa:bb:cc:dd:ee:ff", "10.0.0.1/8")
	f.Add("\xff\x00", "\u0085", "", "2024-99-99", "", "zz", "::1")
	f.Fuzz(func(t *testing.T, name, version, publisher, date, nic, mac, ip string) {
		now := time.Now()
		inv := protocol.Inventory{
			CollectedAt: now, Reason: protocol.InventoryStart,
			Hardware: protocol.Hardware{Model: name, Disks: []protocol.Disk{{Name: nic, Model: version}},
				NetworkAdapters: []protocol.NetworkAdapter{{Name: nic, MAC: mac, IPs: []string{ip}}}},
			OS:       protocol.OSInfo{Name: publisher, Timezone: date},
			Software: []protocol.Software{{Name: name, Version: version, Publisher: publisher, InstallDate: date, Source: protocol.SoftwareRPM}},
			Errors:   []string{name + version},
		}
		if err := Sanitize(inv, now).Validate(now); err != nil {
			t.Errorf("sanitized report does not validate: %v", err)
		}
	})
}

func FuzzAppSoftware(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>CFBundleName</key><string>X</string></dict></plist>`))
	f.Add([]byte("bplist00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := appSoftware(data, "Fuzz.app")
		if err != nil {
			return
		}
		now := time.Now()
		inv := Sanitize(protocol.Inventory{CollectedAt: now, Reason: protocol.InventoryStart, Software: []protocol.Software{s}}, now)
		if err := inv.Validate(now); err != nil {
			t.Errorf("report from a parsed Info.plist does not validate: %v", err)
		}
	})
}

// FuzzParsers feeds arbitrary tool output and files to every parser: none
// may panic, and whatever they make of it must sanitize into a valid
// report.
func FuzzParsers(f *testing.F) {
	for _, name := range []string{"dpkg-status", "rpm-qa.txt", "sw_vers.txt", "system_profiler.json", "diskutil-info.plist"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		now := time.Now()
		inv := protocol.Inventory{CollectedAt: now, Reason: protocol.InventoryStart}
		pkgs, _ := parseDpkgStatus(strings.NewReader(string(data)))
		inv.Software = append(dpkgSoftware(pkgs, fstest.MapFS{}), parseRPM(data)...)
		inv.OS.Name, inv.OS.Version, inv.OS.Build = parseSwVers(data)
		_ = parseSPHardware(data, &inv.Hardware)
		if d, err := parseDiskutilInfo(data); err == nil {
			inv.Hardware.Disks = append(inv.Hardware.Disks, d)
		}
		if err := Sanitize(inv, now).Validate(now); err != nil {
			t.Errorf("sanitized report does not validate: %v", err)
		}
	})
}
