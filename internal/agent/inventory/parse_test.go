package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"howett.net/plist"

	"github.com/steward-rmm/steward/internal/protocol"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDpkgStatus(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "dpkg-status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs, err := parseDpkgStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2024, 3, d, 12, 0, 0, 0, time.UTC) }
	info := fstest.MapFS{
		"adduser.list":      {ModTime: day(1)},
		"libc6:amd64.list":  {ModTime: day(2)},
		"libc6.list":        {ModTime: day(9)}, // the multi-arch name wins
		"oldpkg:amd64.list": {ModTime: day(3)},
		// zlib1g has no list: no date.
	}
	got := dpkgSoftware(pkgs, info)
	want := []protocol.Software{
		{Name: "adduser", Version: "3.134", Publisher: "Debian Adduser Developers", InstallDate: "2024-03-01", Source: protocol.SoftwareDpkg},
		{Name: "libc6", Version: "2.36-9+deb12u9", Publisher: "GNU Libc Maintainers", InstallDate: "2024-03-02", Source: protocol.SoftwareDpkg},
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Publisher: "Mark Brown", Source: protocol.SoftwareDpkg},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dpkg software (-want +got):\n%s", diff)
	}
}

func TestParseDpkgStatusLineTooLong(t *testing.T) {
	status := "Package: a\nStatus: install ok installed\n\nPackage: b\nDescription: " + strings.Repeat("x", maxDpkgLine+1) + "\n"
	pkgs, err := parseDpkgStatus(strings.NewReader(status))
	if err == nil {
		t.Fatal("got no error for an oversized line")
	}
	if len(pkgs) != 1 || pkgs[0].Name != "a" {
		t.Errorf("got %v, want the package before the bad line", pkgs)
	}
}

func TestParseRPM(t *testing.T) {
	got := parseRPM(readFixture(t, "rpm-qa.txt"))
	want := []protocol.Software{
		{Name: "bash", Version: "5.2.26-3.fc40", Publisher: "Fedora Project", InstallDate: "2024-06-10", Source: protocol.SoftwareRPM},
		{Name: "kernel-core", Version: "6.8.5-301.fc40", Publisher: "Fedora Project", InstallDate: "2024-06-10", Source: protocol.SoftwareRPM},
		{Name: "local-tool", Source: protocol.SoftwareRPM},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rpm software (-want +got):\n%s", diff)
	}
}

func TestUninstallSoftware(t *testing.T) {
	tests := []struct {
		name   string
		entry  uninstallEntry
		want   protocol.Software
		wantOK bool
	}{
		{"program", uninstallEntry{DisplayName: " 7-Zip 24.08 (x64) ", DisplayVersion: "24.08", Publisher: "Igor Pavlov", InstallDate: "20241003"},
			protocol.Software{Name: "7-Zip 24.08 (x64)", Version: "24.08", Publisher: "Igor Pavlov", InstallDate: "2024-10-03", Source: protocol.SoftwareRegistry64}, true},
		{"no display name", uninstallEntry{DisplayVersion: "1.0"}, protocol.Software{}, false},
		{"system component", uninstallEntry{DisplayName: "Microsoft Visual C++ 2022 X64 Minimum Runtime", SystemComponent: 1}, protocol.Software{}, false},
		{"update of a parent", uninstallEntry{DisplayName: "Security Update for Microsoft Office (KB123)", ParentKeyName: "Office16.PROPLUS"}, protocol.Software{}, false},
		{"hotfix", uninstallEntry{DisplayName: "Hotfix for X", ReleaseType: "Hotfix"}, protocol.Software{}, false},
		{"bad date dropped", uninstallEntry{DisplayName: "Tool", InstallDate: "20241399"},
			protocol.Software{Name: "Tool", Source: protocol.SoftwareRegistry64}, true},
		{"dashed date", uninstallEntry{DisplayName: "Tool", InstallDate: "2023-01-31"},
			protocol.Software{Name: "Tool", InstallDate: "2023-01-31", Source: protocol.SoftwareRegistry64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := uninstallSoftware(tt.entry, protocol.SoftwareRegistry64)
			if ok != tt.wantOK {
				t.Fatalf("uninstallSoftware(%+v) ok %v, want %v", tt.entry, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("uninstallSoftware(%+v) (-want +got):\n%s", tt.entry, diff)
			}
		})
	}
}

func TestRegistryDate(t *testing.T) {
	for in, want := range map[string]string{
		"20240115": "2024-01-15", "2024-01-15": "2024-01-15", "2024/01/15": "2024-01-15", "1/15/2024": "2024-01-15",
		"": "", "0": "", "19000101": "", "20240230": "", "yesterday": "", "2024011": "",
	} {
		if got := registryDate(in); got != want {
			t.Errorf("registryDate(%q) got %q, want %q", in, got, want)
		}
	}
}

func TestWindowsOS(t *testing.T) {
	tests := []struct {
		in   windowsVersion
		want protocol.OSInfo
	}{
		{windowsVersion{ProductName: "Windows 10 Pro", DisplayVersion: "23H2", CurrentBuild: "22631", UBR: 4460, InstallDate: 1700000000},
			protocol.OSInfo{Name: "Windows 11 Pro", Version: "23H2", Build: "22631.4460", InstallDate: time.Unix(1700000000, 0).UTC()}},
		{windowsVersion{ProductName: "Windows 10 Enterprise", ReleaseID: "1809", CurrentBuild: "17763", UBR: 1},
			protocol.OSInfo{Name: "Windows 10 Enterprise", Version: "1809", Build: "17763.1"}},
		{windowsVersion{ProductName: "Windows Server 2022 Standard", DisplayVersion: "21H2", CurrentBuild: "20348"},
			protocol.OSInfo{Name: "Windows Server 2022 Standard", Version: "21H2", Build: "20348"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, windowsOS(tt.in)); diff != "" {
			t.Errorf("windowsOS(%+v) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseSwVers(t *testing.T) {
	name, version, build := parseSwVers(readFixture(t, "sw_vers.txt"))
	if name != "macOS" || version != "15.1" || build != "24B83" {
		t.Errorf("parseSwVers got %q %q %q, want macOS 15.1 24B83", name, version, build)
	}
}

func TestParseSPHardware(t *testing.T) {
	var h protocol.Hardware
	if err := parseSPHardware(readFixture(t, "system_profiler.json"), &h); err != nil {
		t.Fatal(err)
	}
	want := protocol.Hardware{Manufacturer: "Apple Inc.", Model: "MacBook Pro (MacBookPro18,3)", Serial: "C02XK0ABCDEF",
		BIOS: protocol.BIOS{Vendor: "Apple Inc.", Version: "11881.41.5"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("parseSPHardware (-want +got):\n%s", diff)
	}
	if err := parseSPHardware([]byte(`{"SPHardwareDataType":[]}`), &h); err == nil {
		t.Error("got no error for an empty hardware overview")
	}
	if err := parseSPHardware([]byte(`not json`), &h); err == nil {
		t.Error("got no error for output that is not JSON")
	}
}

func TestParseDiskutil(t *testing.T) {
	ids, err := parseDiskutilList(readFixture(t, "diskutil-list.plist"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"disk0"}, ids); diff != "" {
		t.Errorf("whole disks (-want +got):\n%s", diff)
	}
	d, err := parseDiskutilInfo(readFixture(t, "diskutil-info.plist"))
	if err != nil {
		t.Fatal(err)
	}
	want := protocol.Disk{Name: "disk0", Model: "APPLE SSD AP0512R", SizeBytes: 500277790720}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("disk (-want +got):\n%s", diff)
	}
	if _, err := parseDiskutilInfo([]byte("garbage")); err == nil {
		t.Error("got no error for a malformed plist")
	}
}

// binaryPlist re-encodes an XML plist in the binary format many bundles
// ship.
func binaryPlist(t *testing.T, xml []byte) []byte {
	t.Helper()
	var v map[string]any
	if _, err := plist.Unmarshal(xml, &v); err != nil {
		t.Fatal(err)
	}
	b, err := plist.Marshal(v, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "bplist") {
		t.Fatalf("not a binary plist: %q", b[:8])
	}
	return b
}

func TestScanApplications(t *testing.T) {
	xml := readFixture(t, "Info.plist")
	when := time.Date(2024, 11, 5, 8, 0, 0, 0, time.UTC)
	minimal := []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>CFBundleVersion</key><string>2.1</string></dict></plist>`)
	apps := fstest.MapFS{
		"Google Chrome.app":                                 {Mode: os.ModeDir | 0o755, ModTime: when},
		"Google Chrome.app/Contents/Info.plist":             {Data: binaryPlist(t, xml)},
		"Utilities/Terminal Helper.app":                     {Mode: os.ModeDir | 0o755, ModTime: when.AddDate(0, 1, 0)},
		"Utilities/Terminal Helper.app/Contents/Info.plist": {Data: minimal},
		// Bundles inside bundles and folders two levels down are skipped.
		"Google Chrome.app/Contents/Helpers/Helper.app/Contents/Info.plist": {Data: xml},
		"Vendor/Sub/Deep.app/Contents/Info.plist":                           {Data: xml},
		"Broken.app/Contents/Info.plist":                                    {Data: []byte("not a plist")},
		"NoPlist.app/Contents/MacOS/x":                                      {Data: []byte{}},
		".hidden.app/Contents/Info.plist":                                   {Data: xml},
		"README.txt":                                                        {Data: []byte("hi")},
	}
	got, err := scanApplications(apps)
	if err == nil || !strings.Contains(err.Error(), "Broken.app") {
		t.Errorf("got error %v, want one naming Broken.app", err)
	}
	want := []protocol.Software{
		{Name: "Google Chrome", Version: "131.0.6778.86", Publisher: "Google LLC", InstallDate: "2024-11-05", Source: protocol.SoftwareApplications},
		{Name: "Terminal Helper", Version: "2.1", InstallDate: "2024-12-05", Source: protocol.SoftwareApplications},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applications (-want +got):\n%s", diff)
	}
}

func TestPublisherFromCopyright(t *testing.T) {
	for in, want := range map[string]string{
		"Copyright 2024 Google LLC. All rights reserved.":            "Google LLC",
		"Copyright © 2024 Apple Inc. All rights reserved.":           "Apple Inc.",
		"© 2012–2024 Mozilla Foundation":                             "Mozilla Foundation",
		"Copyright (c) 2003-2023 The Free Software Foundation, Inc.": "The Free Software Foundation, Inc.",
		"(C) 2020, 2021 Jane Doe.":                                   "Jane Doe",
		"":                                                           "",
		"2024":                                                       "",
		"Copyright " + strings.Repeat("long sentence ", 20) + "here.": "",
	} {
		if got := newCopyrightPatterns().publisher(in); got != want {
			t.Errorf("publisherFromCopyright(%q) got %q, want %q", in, got, want)
		}
	}
}

func TestReadDMI(t *testing.T) {
	dmi := fstest.MapFS{
		"sys_vendor":     {Data: []byte("LENOVO\n")},
		"product_name":   {Data: []byte("20XW0055GE\n")},
		"product_serial": {Data: []byte("To be filled by O.E.M.\n")},
		"bios_vendor":    {Data: []byte("LENOVO\n")},
		"bios_version":   {Data: []byte("N32ET86W (1.62 )\n")},
		// bios_date missing: left empty, no error.
	}
	var h protocol.Hardware
	if err := readDMI(dmi, &h); err != nil {
		t.Fatal(err)
	}
	want := protocol.Hardware{Manufacturer: "LENOVO", Model: "20XW0055GE",
		BIOS: protocol.BIOS{Vendor: "LENOVO", Version: "N32ET86W (1.62 )"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("readDMI (-want +got):\n%s", diff)
	}
	if err := readDMI(fstest.MapFS{}, &h); err != nil {
		t.Errorf("readDMI without DMI got %v, want no error", err)
	}
}

func TestReadBlockDisks(t *testing.T) {
	dir := fstest.MapFS{
		"nvme0n1/device/model":   {Data: []byte("Samsung SSD 980 PRO 1TB                 \n")},
		"nvme0n1/device/serial":  {Data: []byte("S5GXNF0R123456\n")},
		"nvme0n1/size":           {Data: []byte("1953525168\n")},
		"nvme0n1/nvme0n1p1/size": {Data: []byte("1000\n")},
		"sda/device/vendor":      {Data: []byte("ATA     \n")},
		"sda/device/model":       {Data: []byte("WDC WD40EFRX-68N\n")},
		"sda/size":               {Data: []byte("7814037168\n")},
		"sdb/device/vendor":      {Data: []byte("Kingston\n")},
		"sdb/device/model":       {Data: []byte("DataTraveler 3.0\n")},
		"sdb/size":               {Data: []byte("60620800\n")},
		"vda/device/features":    {Data: []byte("1\n")},
		"vda/serial":             {Data: []byte("disk-serial-1\n")},
		"vda/size":               {Data: []byte("536870912\n")},
		"loop0/size":             {Data: []byte("100\n")},
		"zram0/size":             {Data: []byte("100\n")},
		"dm-0/size":              {Data: []byte("100\n")},
		"md127/device/x":         {Data: []byte("\n")},
		"sr0/device/model":       {Data: []byte("DVD-ROM\n")},
		"virtual0/size":          {Data: []byte("100\n")}, // no device: virtual
	}
	got, err := readBlockDisks(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.Disk{
		{Name: "nvme0n1", Model: "Samsung SSD 980 PRO 1TB", Serial: "S5GXNF0R123456", SizeBytes: 1953525168 * 512},
		{Name: "sda", Model: "WDC WD40EFRX-68N", SizeBytes: 7814037168 * 512},
		{Name: "sdb", Model: "Kingston DataTraveler 3.0", SizeBytes: 60620800 * 512},
		{Name: "vda", Serial: "disk-serial-1", SizeBytes: 536870912 * 512},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readBlockDisks (-want +got):\n%s", diff)
	}
}

func TestOSReleaseName(t *testing.T) {
	for in, want := range map[string]string{
		"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n": "Debian GNU/Linux",
		"NAME=Fedora\nID=fedora\n": "Fedora",
		"ID=alpine\n":              "",
	} {
		if got := osReleaseName([]byte(in)); got != want {
			t.Errorf("osReleaseName(%q) got %q, want %q", in, got, want)
		}
	}
}
