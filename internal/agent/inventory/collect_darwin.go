package inventory

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

const (
	applicationsDir = "/Applications"
	// setupDone is written when Setup Assistant finishes on a new
	// installation.
	setupDone = "/var/db/.AppleSetupDone"
)

func collectPlatform(ctx context.Context, inv *protocol.Inventory, errs *errorList) {
	if out, err := run(ctx, "sw_vers"); err != nil {
		errs.add("os: sw_vers", err)
	} else {
		name, version, build := parseSwVers(out)
		inv.OS.Name, inv.OS.Version = firstNonEmpty(name, inv.OS.Name), firstNonEmpty(version, inv.OS.Version)
		if build != "" {
			inv.OS.Build = build
		}
	}
	if fi, err := os.Stat(setupDone); err == nil {
		inv.OS.InstallDate = fi.ModTime().UTC()
	}

	if out, err := run(ctx, "system_profiler", "-json", "SPHardwareDataType"); err != nil {
		errs.add("hardware: system_profiler", err)
	} else {
		errs.add("hardware: system_profiler", parseSPHardware(out, &inv.Hardware))
	}
	if inv.Hardware.Model == "" {
		if out, err := run(ctx, "sysctl", "-n", "hw.model"); err == nil {
			inv.Hardware.Model = strings.TrimSpace(string(out))
		}
	}
	if inv.Hardware.CPU.Model == "" {
		if out, err := run(ctx, "sysctl", "-n", "machdep.cpu.brand_string"); err == nil {
			inv.Hardware.CPU.Model = strings.TrimSpace(string(out))
		}
	}
	disks, err := readDisks(ctx)
	errs.add("hardware: disks", err)
	inv.Hardware.Disks = disks

	sw, err := scanApplications(os.DirFS(applicationsDir))
	errs.add("software: applications", err)
	inv.Software = append(inv.Software, sw...)
}

// readDisks lists the physical disks diskutil knows.
func readDisks(ctx context.Context) ([]protocol.Disk, error) {
	out, err := run(ctx, "diskutil", "list", "-plist", "physical")
	if err != nil {
		return nil, err
	}
	ids, err := parseDiskutilList(out)
	if err != nil {
		return nil, err
	}
	var disks []protocol.Disk
	for _, id := range ids {
		out, err := run(ctx, "diskutil", "info", "-plist", id)
		if err != nil {
			return disks, err
		}
		d, err := parseDiskutilInfo(out)
		if err != nil {
			return disks, fmt.Errorf("%s: %w", id, err)
		}
		disks = append(disks, d)
	}
	return disks, nil
}
