package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// readDMI fills the machine and firmware fields from a Linux DMI directory
// (/sys/class/dmi/id). A missing directory (containers, many ARM boards)
// or a file only root may read (product_serial) leaves the field empty
// without an error: empty already means unknown.
func readDMI(dmi fs.FS, h *protocol.Hardware) error {
	var errs []error
	for _, f := range []struct {
		file string
		dst  *string
	}{
		{"sys_vendor", &h.Manufacturer},
		{"product_name", &h.Model},
		{"product_serial", &h.Serial},
		{"bios_vendor", &h.BIOS.Vendor},
		{"bios_version", &h.BIOS.Version},
		{"bios_date", &h.BIOS.Date},
	} {
		b, err := fs.ReadFile(dmi, f.file)
		if err != nil {
			if !quiet(err) {
				errs = append(errs, err)
			}
			continue
		}
		*f.dst = placeholder(strings.TrimSpace(string(b)))
	}
	return errors.Join(errs...)
}

// placeholder clears the filler text firmware puts in fields the vendor did
// not set.
func placeholder(s string) string {
	switch strings.ToLower(s) {
	case "to be filled by o.e.m.", "default string", "system serial number", "system product name",
		"system manufacturer", "not specified", "not applicable", "none", "0", "n/a", "123456789":
		return ""
	}
	return s
}

// osReleaseName is the distribution's name from an os-release file
// ("Debian GNU/Linux"; gopsutil only has the ID, "debian").
func osReleaseName(b []byte) string {
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// virtualBlock lists prefixes of /sys/block entries that are not physical
// disks: loop and RAM devices, compressed swap, device-mapper and software
// RAID volumes, network block devices, floppies and optical drives.
var virtualBlock = []string{"loop", "ram", "zram", "dm-", "md", "nbd", "fd", "sr", "drbd", "rbd", "zd"}

// readBlockDisks lists the whole disks under a /sys/block directory. An
// entry is a disk when it has a device (virtual devices do not) and is not
// one of virtualBlock; partitions live below the disk and are not entries.
// Size is in 512-byte sectors whatever the disk's sector size.
func readBlockDisks(block fs.FS) ([]protocol.Disk, error) {
	entries, err := fs.ReadDir(block, ".")
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var out []protocol.Disk
	for _, e := range entries {
		name := e.Name()
		if hasAnyPrefix(name, virtualBlock) {
			continue
		}
		if _, err := fs.Stat(block, name+"/device"); err != nil {
			continue
		}
		d := protocol.Disk{Name: name}
		if b, err := fs.ReadFile(block, name+"/size"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				d.SizeBytes = n * 512
			}
		}
		d.Model = firstFile(block, name+"/device/model", name+"/device/name")
		if v := firstFile(block, name+"/device/vendor"); v != "" && d.Model != "" && !strings.HasPrefix(d.Model, v) && !isGenericVendor(v) {
			d.Model = v + " " + d.Model
		}
		d.Serial = firstFile(block, name+"/device/serial", name+"/serial", name+"/device/vpd_serial")
		out = append(out, d)
	}
	return out, nil
}

// isGenericVendor is a SCSI vendor field that says nothing ("ATA" for
// every SATA disk behind libata).
func isGenericVendor(v string) bool {
	return v == "ATA" || v == "NVMe"
}

// firstFile returns the trimmed content of the first of paths that is
// readable and not empty.
func firstFile(fsys fs.FS, paths ...string) string {
	for _, p := range paths {
		if b, err := fs.ReadFile(fsys, p); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return ""
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
