package facts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// On Windows the host facts are a few registry values and system calls
// rather than gopsutil's host package, which links its process package and
// with it regexp (about 0.2 MB of the agent's binary). The values are the
// ones gopsutil reported.

const currentVersionKey = `SOFTWARE\Microsoft\Windows NT\CurrentVersion`

// errNoUsers: Windows has no utmp; sessions would take the terminal
// services API, which the agent does not read yet.
var errNoUsers = errors.New("logged-in users: not supported on windows")

// Platform names the product ("Microsoft Windows 11 Pro") and its feature
// release ("23H2").
func Platform(ctx context.Context) (name, version string, err error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, currentVersionKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", "", fmt.Errorf("open %s: %w", currentVersionKey, err)
	}
	defer k.Close()
	product, _, err := k.GetStringValue("ProductName")
	if err != nil {
		return "", "", fmt.Errorf("read ProductName: %w", err)
	}
	build, _, _ := k.GetStringValue("CurrentBuildNumber")
	sp, _, _ := k.GetStringValue("CSDVersion")
	version, _, _ = k.GetStringValue("DisplayVersion")
	if version == "" {
		version, _, _ = k.GetStringValue("ReleaseId")
	}
	return productName(product, build, sp), version, nil
}

// productName spells the product as gopsutil did: "Microsoft" first, the
// service pack last, and Windows 11 (build 22000 and later), which still
// calls itself Windows 10 in ProductName, by its name.
func productName(product, build, servicePack string) string {
	if n, err := strconv.Atoi(build); err == nil && n >= 22000 {
		product = strings.Replace(product, "Windows 10", "Windows 11", 1)
	}
	if !strings.HasPrefix(product, "Microsoft") {
		product = "Microsoft " + product
	}
	if servicePack != "" {
		product += " " + servicePack
	}
	return product
}

// KernelVersion is the kernel's version and build with its update
// revision: "10.0.22631.4460 Build 22631.4460".
func KernelVersion(ctx context.Context) (string, error) {
	v := windows.RtlGetVersion()
	var ubr uint64
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, currentVersionKey, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
		ubr, _, _ = k.GetIntegerValue("UBR")
		k.Close()
	}
	return fmt.Sprintf("%d.%d.%d.%d Build %d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber, ubr, v.BuildNumber, ubr), nil
}

// KernelArch is the machine's own architecture ("x86_64", "aarch64"),
// also when the agent runs emulated.
func KernelArch() (string, error) {
	var process, native uint16
	if err := windows.IsWow64Process2(windows.CurrentProcess(), &process, &native); err != nil {
		return "", fmt.Errorf("machine architecture: %w", err)
	}
	switch native {
	case 0x8664: // IMAGE_FILE_MACHINE_AMD64
		return "x86_64", nil
	case 0xaa64: // IMAGE_FILE_MACHINE_ARM64
		return "aarch64", nil
	case 0x14c: // IMAGE_FILE_MACHINE_I386
		return "i686", nil
	}
	return "", fmt.Errorf("machine architecture: unknown machine type %#x", native)
}

// BootTime is when the machine started, to the second.
func BootTime(ctx context.Context) (time.Time, error) {
	return time.Now().Add(-windows.DurationSinceBoot()).Truncate(time.Second).UTC(), nil
}

// Uptime is how long the machine has been running.
func Uptime(ctx context.Context) (time.Duration, error) {
	return windows.DurationSinceBoot().Truncate(time.Second), nil
}

// Users is not supported on Windows yet.
func Users(ctx context.Context) ([]string, error) {
	return nil, errNoUsers
}
