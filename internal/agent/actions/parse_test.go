package actions

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSystemdList(t *testing.T) {
	units := parseSystemdUnits(readTestdata(t, "systemctl-list-units.txt"))
	files := parseSystemdUnitFiles(readTestdata(t, "systemctl-list-unit-files.txt"))
	got := fitServices(protocol.ServiceList{Services: mergeSystemd(units, files)}).Services
	want := []protocol.ServiceInfo{
		{Name: "cron.service", DisplayName: "Regular background program processing daemon", State: "running", StartType: "auto"},
		{Name: "dbus.service", DisplayName: "D-Bus System Message Bus", State: "running", StartType: "manual"},
		{Name: "nginx.service", DisplayName: "A high performance web server and a reverse proxy server", State: "failed", StartType: "auto"},
		{Name: "plymouth-start.service", DisplayName: "plymouth-start.service", State: "unknown"},
		{Name: "rsync.service", State: "stopped", StartType: "manual"},
		{Name: "ssh.service", DisplayName: "OpenBSD Secure Shell server", State: "running", StartType: "auto"},
		{Name: `systemd-fsck@dev-disk-by\x2duuid-1234.service`, DisplayName: "File System Check on /dev/disk/by-uuid/1234", State: "running"},
		{Name: "systemd-journald.service", DisplayName: "Journal Service", State: "running", StartType: "manual"},
		{Name: "ufw.service", DisplayName: "Uncomplicated firewall", State: "stopped", StartType: "disabled"},
		{Name: "unattended-upgrades.service", DisplayName: "Unattended Upgrades Shutdown", State: "starting", StartType: "auto"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("systemd services (-want +got):\n%s", diff)
	}
}

func TestSystemdShow(t *testing.T) {
	got, err := parseSystemdShow(readTestdata(t, "systemctl-show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := protocol.ServiceInfo{Name: "nginx.service", DisplayName: "A high performance web server and a reverse proxy server",
		State: "running", StartType: "auto", PID: 812}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSystemdShow (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "Id=x.service\nLoadState=not-found\n"} {
		if _, err := parseSystemdShow([]byte(bad)); err == nil {
			t.Errorf("parseSystemdShow(%q) took it, want an error", bad)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"nginx", "nginx.service"},
		{"nginx.service", "nginx.service"},
		{"dbus-org.freedesktop.login1", "dbus-org.freedesktop.login1.service"},
		{"getty@tty1.service", "getty@tty1.service"},
		{"--now", ""},
		{"-H", ""},
		{"multi-user.target", ""},
		{"a b", ""},
		{"../etc", ""},
	} {
		got, err := systemdUnit(tc.name)
		if tc.want == "" {
			if err == nil {
				t.Errorf("systemdUnit(%q) = %q, want an error", tc.name, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("systemdUnit(%q) = %q, %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestLaunchd(t *testing.T) {
	got := parseLaunchctlList(readTestdata(t, "launchctl-list.txt"))
	want := []protocol.ServiceInfo{
		{Name: "com.apple.SafariHistoryServiceAgent", State: "stopped"},
		{Name: "com.apple.mDNSResponder", State: "running", PID: 412},
		{Name: "com.example.broken", State: "failed"},
		{Name: "com.openssh.sshd.0A1B", State: "running", PID: 1021},
		{Name: "com.apple.unknown", State: "stopped"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseLaunchctlList (-want +got):\n%s", diff)
	}
	info := parseLaunchctlPrint("com.apple.mDNSResponder", readTestdata(t, "launchctl-print.txt"))
	wantInfo := protocol.ServiceInfo{Name: "com.apple.mDNSResponder", State: "running", PID: 412,
		Description: "/System/Library/LaunchDaemons/com.apple.mDNSResponder.plist"}
	if diff := cmp.Diff(wantInfo, info); diff != "" {
		t.Errorf("parseLaunchctlPrint (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"-k", "system/x", "a b"} {
		if launchdLabel(bad) == nil {
			t.Errorf("launchdLabel(%q) took it, want an error", bad)
		}
	}
}

func TestJournal(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	all := []protocol.LogEntry{
		{Time: at(1733340000), Level: "error", Source: "systemd", Message: "Failed to start nginx.service - A high performance web server."},
		{Time: at(1733339990), Level: "info", Source: "myapp", Message: "Hello\uFFFD bytes"},
		{Time: at(1733339980), Level: "critical", Source: "kernel", Message: "kernel: Out of memory: Killed process 4242 (java)"},
		{Time: at(1733339970), Level: "warning", Source: "cron.service"},
		{Time: at(1733339960), Level: "debug", Source: "sshd", Message: "debug chatter"},
		{Time: at(1733339950), Level: "info", Source: "twice", Message: "first"},
	}
	for _, tc := range []struct {
		level string
		limit int
		want  []protocol.LogEntry
	}{
		{"debug", 100, all},
		{"info", 100, []protocol.LogEntry{all[0], all[1], all[2], all[3], all[5]}},
		{"error", 100, []protocol.LogEntry{all[0], all[2]}},
		{"critical", 100, []protocol.LogEntry{all[2]}},
		{"debug", 2, all[:2]},
	} {
		got := parseJournal(readTestdata(t, "journal.json"), tc.level, tc.limit)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseJournal(%s, %d) (-want +got):\n%s", tc.level, tc.limit, diff)
		}
	}
	for prio, want := range []string{"critical", "critical", "critical", "error", "warning", "info", "info", "debug"} {
		if got := journalLevel(prio); got != want {
			t.Errorf("journalLevel(%d) = %s, want %s", prio, got, want)
		}
	}
}

func TestWevtutil(t *testing.T) {
	all := []protocol.LogEntry{
		{Time: time.Date(2024, 12, 4, 18, 0, 5, 123456700, time.UTC), Level: "error", Source: "Service Control Manager", EventID: 7000,
			Message: "The Steward Agent service failed to start due to the following error: \nThe system cannot find the file specified."},
		{Time: time.Date(2024, 12, 4, 17, 59, 0, 0, time.UTC), Level: "critical", Source: "Microsoft-Windows-Kernel-Power", EventID: 41,
			Message: "The system has rebooted without cleanly shutting down first."},
		{Time: time.Date(2024, 12, 4, 17, 58, 0, 0, time.UTC), Level: "info", Source: "EventLog", EventID: 6008, Message: "10:57:12; 04/12/2024"},
	}
	data := readTestdata(t, "wevtutil.xml")
	for _, tc := range []struct {
		name  string
		data  []byte
		level string
		want  []protocol.LogEntry
	}{
		{"utf-8", data, "info", all},
		{"utf-16 with BOM", utf16le(string(data), true), "info", all},
		{"utf-16 without BOM", utf16le(string(data), false), "info", all},
		{"errors", data, "error", all[:2]},
		{"cut short", data[:len(data)-40], "info", all[:2]},
	} {
		got := parseWevtutil(tc.data, tc.level, 100)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: parseWevtutil (-want +got):\n%s", tc.name, diff)
		}
	}
}

func utf16le(s string, bom bool) []byte {
	var b bytes.Buffer
	if bom {
		b.Write([]byte{0xff, 0xfe})
	}
	for _, r := range s {
		b.WriteByte(byte(r))
		b.WriteByte(byte(r >> 8))
	}
	return b.Bytes()
}

func TestUnifiedLog(t *testing.T) {
	pst := time.FixedZone("", -8*3600)
	newest := protocol.LogEntry{Time: time.Date(2024, 12, 4, 10, 0, 3, 250000000, pst).UTC(), Level: "critical", Source: "newd", Message: "newest fault"}
	ordinary := protocol.LogEntry{Time: time.Date(2024, 12, 4, 10, 0, 2, 0, pst).UTC(), Level: "info", Source: "Finder", Message: "ordinary"}
	errEntry := protocol.LogEntry{Time: time.Date(2024, 12, 4, 10, 0, 1, 500000000, pst).UTC(), Level: "error", Source: "bluetoothd", Message: "an error"}
	oldest := protocol.LogEntry{Time: time.Date(2024, 12, 4, 10, 0, 0, 1000, pst).UTC(), Level: "critical", Source: "oldd", Message: "oldest fault"}
	for _, tc := range []struct {
		level string
		limit int
		want  []protocol.LogEntry
	}{
		{"info", 100, []protocol.LogEntry{newest, ordinary, errEntry, oldest}},
		{"info", 2, []protocol.LogEntry{newest, ordinary}},
		{"error", 100, []protocol.LogEntry{newest, errEntry, oldest}},
		{"critical", 1, []protocol.LogEntry{newest}},
		{"info", 0, []protocol.LogEntry{}},
	} {
		got := parseUnifiedLog(bytes.NewReader(readTestdata(t, "log-show.ndjson")), tc.level, tc.limit)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseUnifiedLog(%s, %d) (-want +got):\n%s", tc.level, tc.limit, diff)
		}
	}
}

func FuzzJournal(f *testing.F) {
	f.Add(readTestdata(f, "journal.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range parseJournal(data, protocol.LogInfo, 10) {
			if protocol.LogSeverity(e.Level) < 0 || protocol.LogSeverity(e.Level) > protocol.LogSeverity(protocol.LogInfo) {
				t.Fatalf("entry with level %q kept", e.Level)
			}
		}
	})
}

func FuzzWevtutil(f *testing.F) {
	f.Add(readTestdata(f, "wevtutil.xml"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := parseWevtutil(data, protocol.LogDebug, 5); len(got) > 5 {
			t.Fatalf("%d entries, limit 5", len(got))
		}
	})
}

func FuzzUnifiedLog(f *testing.F) {
	f.Add(readTestdata(f, "log-show.ndjson"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := parseUnifiedLog(bytes.NewReader(data), protocol.LogError, 3); len(got) > 3 {
			t.Fatalf("%d entries, limit 3", len(got))
		}
	})
}

func FuzzServiceParsers(f *testing.F) {
	f.Add(readTestdata(f, "systemctl-list-units.txt"), readTestdata(f, "systemctl-list-unit-files.txt"))
	f.Add(readTestdata(f, "launchctl-list.txt"), readTestdata(f, "launchctl-print.txt"))
	f.Add(readTestdata(f, "systemctl-show.txt"), []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, s := range append(mergeSystemd(parseSystemdUnits(a), parseSystemdUnitFiles(b)), parseLaunchctlList(a)...) {
			if s.Name == "" || strings.ContainsAny(s.Name, " \n") {
				t.Fatalf("service named %q", s.Name)
			}
		}
		parseSystemdShow(a)
		parseLaunchctlPrint("x", b)
	})
}
