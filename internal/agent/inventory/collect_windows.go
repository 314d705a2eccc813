package inventory

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/yusufpapurcu/wmi"
	"golang.org/x/sys/windows/registry"

	"github.com/steward-rmm/steward/internal/protocol"
)

const (
	currentVersionKey = `SOFTWARE\Microsoft\Windows NT\CurrentVersion`
	biosKey           = `HARDWARE\DESCRIPTION\System\BIOS`
	uninstallKey      = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`
	timeZoneKey       = `SYSTEM\CurrentControlSet\Control\TimeZoneInformation`
)

func collectPlatform(ctx context.Context, inv *protocol.Inventory, errs *errorList) {
	if o, err := readWindowsOS(); err != nil {
		errs.add("os: registry", err)
	} else {
		o.Arch, o.LastBoot = inv.OS.Arch, inv.OS.LastBoot
		inv.OS = o
	}
	inv.OS.PendingReboot = pendingReboot()
	if tz, err := readString(registry.LOCAL_MACHINE, timeZoneKey, "TimeZoneKeyName"); err == nil {
		inv.OS.Timezone = tz
	}
	errs.add("hardware: bios", readBIOS(&inv.Hardware))
	errs.add("hardware: serial", readSerial(&inv.Hardware))
	disks, err := readDisks()
	errs.add("hardware: disks", err)
	inv.Hardware.Disks = disks

	for _, view := range []struct {
		access uint32
		source string
	}{
		{registry.WOW64_64KEY, protocol.SoftwareRegistry64},
		{registry.WOW64_32KEY, protocol.SoftwareRegistry32},
	} {
		sw, err := readUninstall(registry.LOCAL_MACHINE, uninstallKey, view.access, view.source)
		errs.add("software: "+view.source, err)
		inv.Software = append(inv.Software, sw...)
	}
	sw, err := readUserUninstall()
	errs.add("software: "+protocol.SoftwareRegistryUser, err)
	inv.Software = append(inv.Software, sw...)
}

// readWindowsOS reads the product name, version, build and install date.
func readWindowsOS() (protocol.OSInfo, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, currentVersionKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return protocol.OSInfo{}, fmt.Errorf("open %s: %w", currentVersionKey, err)
	}
	defer k.Close()
	r := values{k}
	return windowsOS(windowsVersion{
		ProductName: r.str("ProductName"), DisplayVersion: r.str("DisplayVersion"), ReleaseID: r.str("ReleaseId"),
		CurrentBuild: r.str("CurrentBuild"), UBR: r.num("UBR"), InstallDate: r.num("InstallDate"),
	}), nil
}

// readBIOS reads the machine and firmware names Windows keeps from SMBIOS.
func readBIOS(h *protocol.Hardware) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, biosKey, registry.QUERY_VALUE)
	if err != nil {
		return fmt.Errorf("open %s: %w", biosKey, err)
	}
	defer k.Close()
	r := values{k}
	get := func(name string) string { return placeholder(r.str(name)) }
	h.Manufacturer = get("SystemManufacturer")
	h.Model = get("SystemProductName")
	h.BIOS.Vendor = get("BIOSVendor")
	h.BIOS.Version = get("BIOSVersion")
	h.BIOS.Date = get("BIOSReleaseDate")
	return nil
}

// win32BIOS and win32DiskDrive are the WMI classes' fields read.
type win32BIOS struct {
	SerialNumber string
}

type win32DiskDrive struct {
	Index        uint32
	Model        string
	SerialNumber string
	Size         uint64
}

// readSerial asks WMI for the system serial number, which the registry
// does not keep.
func readSerial(h *protocol.Hardware) error {
	var bios []win32BIOS
	if err := wmi.Query("SELECT SerialNumber FROM Win32_BIOS", &bios); err != nil {
		return fmt.Errorf("wmi Win32_BIOS: %w", err)
	}
	if len(bios) > 0 {
		h.Serial = placeholder(strings.TrimSpace(bios[0].SerialNumber))
	}
	return nil
}

// readDisks lists the physical disks through WMI.
func readDisks() ([]protocol.Disk, error) {
	var drives []win32DiskDrive
	if err := wmi.Query("SELECT Index, Model, SerialNumber, Size FROM Win32_DiskDrive", &drives); err != nil {
		return nil, fmt.Errorf("wmi Win32_DiskDrive: %w", err)
	}
	out := make([]protocol.Disk, 0, len(drives))
	for _, d := range drives {
		out = append(out, protocol.Disk{
			Name:  "PhysicalDrive" + strconv.FormatUint(uint64(d.Index), 10),
			Model: strings.TrimSpace(d.Model), Serial: strings.TrimSpace(d.SerialNumber), SizeBytes: d.Size,
		})
	}
	return out, nil
}

// pendingReboot checks the keys Windows Update, servicing and file
// operations queued for the next boot leave behind.
func pendingReboot() *bool {
	for _, path := range []string{
		`SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending`,
		`SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`,
	} {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
		if err == nil {
			k.Close()
			return new(true)
		}
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Control\Session Manager`, registry.QUERY_VALUE)
	if err != nil {
		return nil
	}
	defer k.Close()
	ops, _, err := k.GetStringsValue("PendingFileRenameOperations")
	if err == nil && len(ops) > 0 {
		return new(true)
	}
	if err != nil && !errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	return new(false)
}

// readUninstall lists the programs under one uninstall key.
func readUninstall(root registry.Key, path string, view uint32, source string) ([]protocol.Software, error) {
	k, err := registry.OpenKey(root, path, registry.ENUMERATE_SUB_KEYS|view)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	var out []protocol.Software
	for _, name := range names {
		sk, err := registry.OpenKey(k, name, registry.QUERY_VALUE|view)
		if err != nil {
			continue // removed meanwhile, or not ours to read
		}
		r := values{sk}
		e := uninstallEntry{
			DisplayName: r.str("DisplayName"), DisplayVersion: r.str("DisplayVersion"), Publisher: r.str("Publisher"),
			InstallDate: r.str("InstallDate"), ParentKeyName: r.str("ParentKeyName"), ReleaseType: r.str("ReleaseType"),
			SystemComponent: r.num("SystemComponent"),
		}
		sk.Close()
		if s, ok := uninstallSoftware(e, source); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// readUserUninstall lists the per-user programs of every loaded user hive
// under HKEY_USERS (users logged on, and service accounts). Hives of users
// not logged on are not loaded and not read.
func readUserUninstall() ([]protocol.Software, error) {
	users, err := registry.OpenKey(registry.USERS, "", registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil, fmt.Errorf("open HKEY_USERS: %w", err)
	}
	defer users.Close()
	sids, err := users.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list HKEY_USERS: %w", err)
	}
	var out []protocol.Software
	var errs []error
	for _, sid := range sids {
		if strings.HasSuffix(sid, "_Classes") || sid == ".DEFAULT" {
			continue
		}
		sw, err := readUninstall(users, sid+`\`+uninstallKey, 0, protocol.SoftwareRegistryUser)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sid, err))
		}
		out = append(out, sw...)
	}
	return out, errors.Join(errs...)
}

// values reads the values of an open key; a value that is missing or of
// another type reads as empty: every value read here is optional.
type values struct{ k registry.Key }

func (v values) str(name string) string {
	s, _, _ := v.k.GetStringValue(name)
	return strings.TrimSpace(s)
}

func (v values) num(name string) uint64 {
	n, _, _ := v.k.GetIntegerValue(name)
	return n
}

// readString reads one string value.
func readString(root registry.Key, path, name string) (string, error) {
	k, err := registry.OpenKey(root, path, registry.QUERY_VALUE)
	if err != nil {
		return "", err
	}
	defer k.Close()
	s, _, err := k.GetStringValue(name)
	return s, err
}
