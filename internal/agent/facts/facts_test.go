package facts

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestCollectOnThisMachine(t *testing.T) {
	f, err := Collect(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)), "v1.2.3")
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if err := f.Validate(); err != nil {
		t.Errorf("Collect produced invalid facts: %v\n%+v", err, f)
	}
	if f.OS != runtime.GOOS || f.Arch != runtime.GOARCH || f.AgentVersion != "v1.2.3" {
		t.Errorf("Collect got os=%q arch=%q version=%q, want %q %q %q", f.OS, f.Arch, f.AgentVersion, runtime.GOOS, runtime.GOARCH, "v1.2.3")
	}
	if f.IPAddresses == nil || f.Users == nil {
		t.Errorf("Collect got nil lists (ips=%v users=%v), want empty lists", f.IPAddresses == nil, f.Users == nil)
	}
	if f.BootTime.IsZero() {
		t.Logf("boot time unavailable on this machine")
	}
	t.Logf("facts: %+v", f)
}

func TestSanitizeWorstCase(t *testing.T) {
	var ips, users []string
	for i := range 300 {
		ips = append(ips, fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		users = append(users, fmt.Sprintf("user%03d", i))
	}
	ips = append(ips, "not-an-ip", "fe80::1%eth0")
	users = append(users, "", "\x00\x01", "bad\xffutf8")
	long := strings.Repeat("é", 300) // 600 bytes, 2-byte runes
	in := protocol.Facts{
		Hostname:     "host\x1b[31m\n" + long,
		OS:           long,
		OSName:       "Ubuntu\x7f",
		OSVersion:    "\xff\xfe",
		Arch:         long,
		Kernel:       long,
		AgentVersion: long,
		BootTime:     time.Now().Add(48 * time.Hour),
		IPAddresses:  ips,
		Users:        users,
	}
	got := Sanitize(in)
	if err := got.Validate(); err != nil {
		t.Fatalf("Sanitize(worst case) fails Validate: %v", err)
	}
	if len(got.IPAddresses) != protocol.MaxIPs || len(got.Users) != protocol.MaxUsers {
		t.Errorf("Sanitize got %d ips, %d users, want %d, %d", len(got.IPAddresses), len(got.Users), protocol.MaxIPs, protocol.MaxUsers)
	}
	if !got.BootTime.IsZero() {
		t.Errorf("Sanitize kept future boot time %v", got.BootTime)
	}
	if !strings.HasPrefix(got.Hostname, "host[31m") {
		t.Errorf("Sanitize hostname got %q, want control characters dropped", got.Hostname)
	}
}

func TestSanitize(t *testing.T) {
	boot := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := protocol.Facts{
		Hostname:    " web-01 ",
		OS:          "linux",
		BootTime:    boot,
		IPAddresses: []string{"192.168.1.5", "::ffff:10.0.0.1", "2001:db8::1", "192.168.1.5", "bogus"},
		Users:       []string{"bob", "alice", "bob", " ", "carol"},
	}
	want := protocol.Facts{
		Hostname:    "web-01",
		OS:          "linux",
		BootTime:    boot,
		IPAddresses: []string{"10.0.0.1", "192.168.1.5", "2001:db8::1"},
		Users:       []string{"alice", "bob", "carol"},
	}
	if diff := cmp.Diff(want, Sanitize(in)); diff != "" {
		t.Errorf("Sanitize (-want +got):\n%s", diff)
	}
	if got := Sanitize(protocol.Facts{}); got.IPAddresses == nil || got.Users == nil {
		t.Errorf("Sanitize(empty) got nil lists, want empty lists")
	}
}

func TestUnicastIPs(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	addrs := []net.Addr{
		cidr("127.0.0.1/8"),
		cidr("192.168.1.10/24"),
		cidr("169.254.3.4/16"),
		cidr("fe80::1/64"),
		cidr("2001:db8::5/64"),
		cidr("::1/128"),
		&net.IPAddr{IP: net.ParseIP("10.1.2.3")},
		cidr("224.0.0.1/4"),
		cidr("0.0.0.0/0"),
	}
	want := []string{"192.168.1.10", "2001:db8::5", "10.1.2.3"}
	if diff := cmp.Diff(want, unicastIPs(addrs)); diff != "" {
		t.Errorf("unicastIPs (-want +got):\n%s", diff)
	}
}

func TestEqual(t *testing.T) {
	base := protocol.Facts{Hostname: "h", IPAddresses: []string{"10.0.0.1"}, Users: []string{"a"}, BootTime: time.Unix(100, 0)}
	same := base
	same.BootTime = time.Unix(100, 0).UTC()
	if !Equal(base, same) {
		t.Errorf("Equal(%+v, %+v) got false, want true", base, same)
	}
	changed := base
	changed.Users = []string{"a", "b"}
	if Equal(base, changed) {
		t.Errorf("Equal with different users got true, want false")
	}
	changed = base
	changed.IPAddresses = []string{"10.0.0.2"}
	if Equal(base, changed) {
		t.Errorf("Equal with different ips got true, want false")
	}
	changed = base
	changed.Trays = []protocol.TrayInfo{{User: "a", Version: "1.1.0"}}
	if Equal(base, changed) {
		t.Errorf("Equal with a tray more got true, want false")
	}
	base.Trays = []protocol.TrayInfo{{User: "a", Version: "1.0.0"}}
	if Equal(base, changed) {
		t.Errorf("Equal with a tray on another version got true, want false")
	}
	at := time.Unix(200, 0)
	reboot := protocol.PowerState{Action: protocol.PowerReboot, At: at, By: "alice"}
	for _, tc := range []struct {
		name string
		a, b *protocol.PowerState
		want bool
	}{
		{"none", nil, nil, true},
		{"one pending", nil, &reboot, false},
		{"same pending", &reboot, &protocol.PowerState{Action: protocol.PowerReboot, At: at.UTC(), By: "alice"}, true},
		{"another time", &reboot, &protocol.PowerState{Action: protocol.PowerReboot, At: at.Add(time.Minute), By: "alice"}, false},
	} {
		x, y := base, base
		x.PowerPending, y.PowerPending = tc.a, tc.b
		if got := Equal(x, y); got != tc.want {
			t.Errorf("Equal with power %s got %v, want %v", tc.name, got, tc.want)
		}
	}
}
