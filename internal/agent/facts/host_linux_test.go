package facts

import (
	"encoding/binary"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// utmpRecord builds one glibc utmp record.
func utmpRecord(typ int16, user string) []byte {
	b := make([]byte, utmpSize)
	binary.NativeEndian.PutUint16(b, uint16(typ))
	copy(b[8:40], "pts/0")
	copy(b[utmpUserOffset:utmpUserOffset+utmpUserLen], user)
	copy(b[76:], "10.0.0.9") // ut_host
	return b
}

func TestParseUtmp(t *testing.T) {
	var b []byte
	b = append(b, utmpRecord(2, "reboot")...) // BOOT_TIME
	b = append(b, utmpRecord(userProcess, "alice")...)
	b = append(b, utmpRecord(6, "LOGIN")...) // LOGIN_PROCESS: a getty
	b = append(b, utmpRecord(userProcess, "bob")...)
	b = append(b, utmpRecord(userProcess, "exactly32charactersusernamexxxxx")...)
	b = append(b, utmpRecord(8, "carol")...) // DEAD_PROCESS: logged out
	b = append(b, utmpRecord(userProcess, "")...)
	b = append(b, utmpRecord(userProcess, "partial")[:100]...)
	got := parseUtmp(b)
	want := []string{"alice", "bob", "exactly32charactersusernamexxxxx"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseUtmp (-want +got):\n%s", diff)
	}
}

func FuzzParseUtmp(f *testing.F) {
	f.Add(utmpRecord(userProcess, "alice"))
	f.Add(append(utmpRecord(userProcess, "alice"), 1, 2, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		users := parseUtmp(b)
		if len(users) > len(b)/utmpSize {
			t.Errorf("parseUtmp found %d users in %d records", len(users), len(b)/utmpSize)
		}
		for _, u := range users {
			if u == "" || len(u) > utmpUserLen {
				t.Errorf("parseUtmp got user %q", u)
			}
		}
	})
}

func TestLogindUsers(t *testing.T) {
	dir := fstest.MapFS{
		// A console login, an SSH login, a graphical login on a seat.
		"1":  {Data: []byte("# This is private data. Do not parse.\nUID=1000\nUSER=alice\nACTIVE=1\nTYPE=tty\nCLASS=user\nTTY=tty1\n")},
		"4":  {Data: []byte("UID=1001\nUSER=bob\nTYPE=tty\nCLASS=user\nTTY=pts/0\nREMOTE_HOST=10.0.0.9\n")},
		"c2": {Data: []byte("UID=1000\nUSER=alice\nTYPE=wayland\nCLASS=user\nSEAT=seat0\n")},
		// alice's service manager and the display manager's greeter.
		"3":  {Data: []byte("UID=1000\nUSER=alice\nTYPE=unspecified\nCLASS=manager\n")},
		"c1": {Data: []byte("UID=114\nUSER=gdm\nTYPE=wayland\nCLASS=greeter\nSEAT=seat0\n")},
		// An SSH command without a terminal, and the FIFO beside a session.
		"5":     {Data: []byte("UID=1001\nUSER=bob\nTYPE=tty\nCLASS=user\n")},
		"1.ref": {Data: []byte("USER=mallory\nCLASS=user\nTTY=tty9\n")},
		"sub":   {Mode: os.ModeDir},
	}
	got, err := logindUsers(dir)
	if err != nil {
		t.Fatalf("logindUsers: %v", err)
	}
	slices.Sort(got)
	if want := []string{"alice", "alice", "bob"}; !slices.Equal(got, want) {
		t.Errorf("logindUsers got %q, want %q", got, want)
	}
	if _, err := logindUsers(fstest.MapFS{}); err != nil {
		t.Errorf("logindUsers(empty dir): %v", err)
	}
}

func TestParseOSRelease(t *testing.T) {
	for _, tc := range []struct {
		in, id, version string
	}{
		{"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n", "debian", "12"},
		{"NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n", "ubuntu", "24.04"},
		{"NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n", "rhel", "9.4"},
		{"NAME=\"Amazon Linux\"\nID=\"amzn\"\nVERSION_ID=\"2023\"\n", "amazon", "2023"},
		{"NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n", "arch", ""},
		{"# comment\n\n  ID='alpine'  \r\nVERSION_ID=3.20.3\n", "alpine", "3.20.3"},
		{"", "", ""},
	} {
		id, version := parseOSRelease([]byte(tc.in))
		if id != tc.id || version != tc.version {
			t.Errorf("parseOSRelease(%q) got %q %q, want %q %q", tc.in, id, version, tc.id, tc.version)
		}
	}
}

func TestDebianVersion(t *testing.T) {
	for in, want := range map[string]string{
		"12.11\n":      "12.11",
		"13.0":         "13.0",
		"trixie/sid\n": "12",
		"":             "12",
		"\n":           "12",
	} {
		if got := debianVersion([]byte(in), "12"); got != want {
			t.Errorf("debianVersion(%q) got %q, want %q", in, got, want)
		}
	}
}

// samePlatformNames reports whether gopsutil names the distribution as
// os-release does. It reads some from their own release files ("redhat",
// where os-release says "rhel"); those differ by design.
func samePlatformNames(gopsutilName string) bool {
	return gopsutilName == "debian" || gopsutilName == "ubuntu" || gopsutilName == "alpine"
}

func TestUsersOnThisMachine(t *testing.T) {
	users, err := Users(t.Context())
	if err != nil {
		t.Errorf("Users: %v", err)
	}
	t.Logf("users %q", users)
}
