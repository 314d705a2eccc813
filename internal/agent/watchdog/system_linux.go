package watchdog

import "os"

// systemdBooted reports whether systemd runs this machine, as
// sd_booted(3) tells it.
func systemdBooted() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// SystemServices returns the ServiceManager for the watched services:
// systemd units when systemd runs the machine, else processes by name.
func SystemServices() ServiceManager {
	if systemdBooted() {
		return systemd{systemctl: "systemctl"}
	}
	return processes{}
}
