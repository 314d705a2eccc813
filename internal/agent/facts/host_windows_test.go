package facts

import (
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/host"
)

func TestProductName(t *testing.T) {
	for _, tc := range []struct {
		product, build, sp, want string
	}{
		{"Windows 10 Pro", "22631", "", "Microsoft Windows 11 Pro"},
		{"Windows 10 Pro", "19045", "", "Microsoft Windows 10 Pro"},
		{"Windows Server 2022 Datacenter", "20348", "", "Microsoft Windows Server 2022 Datacenter"},
		{"Microsoft Windows XP", "2600", "Service Pack 3", "Microsoft Windows XP Service Pack 3"},
		{"Windows 7 Professional", "", "Service Pack 1", "Microsoft Windows 7 Professional Service Pack 1"},
	} {
		if got := productName(tc.product, tc.build, tc.sp); got != tc.want {
			t.Errorf("productName(%q, %q, %q) got %q, want %q", tc.product, tc.build, tc.sp, got, tc.want)
		}
	}
}

// TestSameAsGopsutil checks the Windows readers against gopsutil's host
// package, which the agent used before, on this machine.
func TestSameAsGopsutil(t *testing.T) {
	ctx := t.Context()
	name, version, err := Platform(ctx)
	// Facts are trimmed (Sanitize): gopsutil's trailing space under wine
	// does not count.
	if wname, _, wversion, werr := host.PlatformInformationWithContext(ctx); err != nil || werr != nil || name != strings.TrimSpace(wname) || version != wversion {
		t.Errorf("Platform got %q %q (%v), gopsutil %q %q (%v)", name, version, err, wname, wversion, werr)
	}
	kernel, err := KernelVersion(ctx)
	if want, werr := host.KernelVersionWithContext(ctx); err != nil || werr != nil || kernel != want {
		t.Errorf("KernelVersion got %q (%v), gopsutil %q (%v)", kernel, err, want, werr)
	}
	arch, err := KernelArch()
	if want, werr := host.KernelArch(); err != nil || werr != nil || arch != want {
		t.Errorf("KernelArch got %q (%v), gopsutil %q (%v)", arch, err, want, werr)
	}
	boot, err := BootTime(ctx)
	if want, werr := host.BootTimeWithContext(ctx); err != nil || werr != nil || (boot.Unix()-int64(want)) > 2 || (int64(want)-boot.Unix()) > 2 {
		t.Errorf("BootTime got %v (%v), gopsutil %d (%v)", boot, err, want, werr)
	}
	up, err := Uptime(ctx)
	if want, werr := host.UptimeWithContext(ctx); err != nil || werr != nil || (up/time.Second-time.Duration(want)).Abs() > 2 {
		t.Errorf("Uptime got %v (%v), gopsutil %ds (%v)", up, err, want, werr)
	}
	if _, err := Users(ctx); err == nil {
		t.Errorf("Users got no error, want not supported")
	}
	t.Logf("platform %q %q, kernel %q %q, boot %v, uptime %v", name, version, kernel, arch, boot, up)
}
