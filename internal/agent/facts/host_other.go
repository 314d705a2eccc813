//go:build !linux && !windows

package facts

import (
	"context"
	"time"

	"github.com/shirou/gopsutil/v4/host"
)

// On macOS the host facts come from gopsutil's host package, which asks
// the system (sysctl, sw_vers).

// Platform names the operating system and its version ("darwin", "15.1").
func Platform(ctx context.Context) (name, version string, err error) {
	name, _, version, err = host.PlatformInformationWithContext(ctx)
	return name, version, err
}

// KernelVersion is the running kernel's version.
func KernelVersion(ctx context.Context) (string, error) {
	return host.KernelVersionWithContext(ctx)
}

// KernelArch is the machine's architecture as the system names it.
func KernelArch() (string, error) {
	return host.KernelArch()
}

// BootTime is when the machine started.
func BootTime(ctx context.Context) (time.Time, error) {
	s, err := host.BootTimeWithContext(ctx)
	if err != nil || s == 0 {
		return time.Time{}, err
	}
	return time.Unix(int64(s), 0).UTC(), nil
}

// Uptime is how long the machine has been running.
func Uptime(ctx context.Context) (time.Duration, error) {
	s, err := host.UptimeWithContext(ctx)
	return time.Duration(s) * time.Second, err
}

// Users lists the user of every login session, one entry a session.
func Users(ctx context.Context) ([]string, error) {
	stats, err := host.UsersWithContext(ctx)
	users := make([]string, 0, len(stats))
	for _, u := range stats {
		users = append(users, u.User)
	}
	return users, err
}
