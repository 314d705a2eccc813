package inventory

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Where Linux keeps what collectPlatform reads.
const (
	dmiDir         = "/sys/class/dmi/id"
	blockDir       = "/sys/block"
	dpkgStatus     = "/var/lib/dpkg/status"
	dpkgInfo       = "/var/lib/dpkg/info"
	rebootRequired = "/var/run/reboot-required"
	// rebootNotifier writes rebootRequired on Debian and Ubuntu; where it
	// is installed, the file's absence means no reboot is pending.
	rebootNotifier = "/usr/share/update-notifier/notify-reboot-required"
	// debianInstaller is the Debian/Ubuntu installer's log directory,
	// created at installation.
	debianInstaller = "/var/log/installer"
)

func collectPlatform(ctx context.Context, inv *protocol.Inventory, errs *errorList) {
	errs.add("hardware: dmi", readDMI(os.DirFS(dmiDir), &inv.Hardware))
	disks, err := readBlockDisks(os.DirFS(blockDir))
	errs.add("hardware: disks", err)
	inv.Hardware.Disks = disks

	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if b, err := os.ReadFile(p); err == nil {
			inv.OS.Name = firstNonEmpty(osReleaseName(b), inv.OS.Name)
			break
		}
	}
	inv.OS.PendingReboot = pendingReboot()
	inv.OS.InstallDate = installDate()

	if f, err := os.Open(dpkgStatus); err == nil {
		pkgs, err := parseDpkgStatus(f)
		f.Close()
		errs.add("software: dpkg", err)
		inv.Software = append(inv.Software, dpkgSoftware(pkgs, os.DirFS(dpkgInfo))...)
	} else if !errors.Is(err, os.ErrNotExist) {
		errs.add("software: dpkg", err)
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		out, err := run(ctx, "rpm", "-qa", "--queryformat", rpmQueryFormat)
		errs.add("software", err)
		inv.Software = append(inv.Software, parseRPM(out)...)
	}
}

// pendingReboot is true when the Debian/Ubuntu marker file exists, false
// when the tool that writes it is installed and it does not, and unknown
// otherwise.
func pendingReboot() *bool {
	if _, err := os.Stat(rebootRequired); err == nil {
		return new(true)
	}
	if _, err := os.Stat(rebootNotifier); err == nil {
		return new(false)
	}
	return nil
}

// installDate is when the installer ran (Debian/Ubuntu) or else when the
// root file system was created, where the file system records it.
func installDate() time.Time {
	if fi, err := os.Stat(debianInstaller); err == nil {
		return fi.ModTime().UTC()
	}
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_BTIME, &st); err == nil && st.Mask&unix.STATX_BTIME != 0 && st.Btime.Sec > 0 {
		return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)).UTC()
	}
	return time.Time{}
}
