//go:build linux || windows

package facts

import (
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/host"
)

// TestSameAsGopsutil checks the readers against gopsutil's host package,
// which the agent used before, on this machine.
func TestSameAsGopsutil(t *testing.T) {
	ctx := t.Context()
	kernel, err := KernelVersion(ctx)
	if want, werr := host.KernelVersionWithContext(ctx); err != nil || werr != nil || kernel != want {
		t.Errorf("KernelVersion got %q (%v), gopsutil %q (%v)", kernel, err, want, werr)
	}
	arch, err := KernelArch()
	if want, werr := host.KernelArch(); err != nil || werr != nil || arch != want {
		t.Errorf("KernelArch got %q (%v), gopsutil %q (%v)", arch, err, want, werr)
	}
	// Windows derives the boot time from the uptime: a second either way.
	boot, err := BootTime(ctx)
	if want, werr := host.BootTimeWithContext(ctx); err != nil || werr != nil || boot.Sub(time.Unix(int64(want), 0)).Abs() > 2*time.Second {
		t.Errorf("BootTime got %v (%v), gopsutil %d (%v)", boot, err, want, werr)
	}
	up, err := Uptime(ctx)
	if want, werr := host.UptimeWithContext(ctx); err != nil || werr != nil || (up-time.Duration(want)*time.Second).Abs() > 2*time.Second {
		t.Errorf("Uptime got %v (%v), gopsutil %ds (%v)", up, err, want, werr)
	}
	name, version, err := Platform(ctx)
	// Facts are trimmed (Sanitize), so gopsutil's trailing spaces (under
	// wine) do not count.
	wname, _, wversion, werr := host.PlatformInformationWithContext(ctx)
	if err != nil || werr != nil || name != strings.TrimSpace(wname) || version != wversion {
		report := t.Logf
		if samePlatformNames(wname) {
			report = t.Errorf
		}
		report("Platform got %q %q (%v), gopsutil %q %q (%v)", name, version, err, wname, wversion, werr)
	}
	t.Logf("platform %q %q, kernel %q %q, boot %v, uptime %v", name, version, kernel, arch, boot, up)
}
