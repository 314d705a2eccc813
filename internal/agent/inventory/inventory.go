// Package inventory collects the agent's hardware, operating system and
// installed-software report (protocol.Inventory) and uploads it to the
// server.
//
// What is read where depends on the operating system (files by suffix):
// Linux reads DMI and block devices from /sys, packages from dpkg and rpm;
// Windows reads the registry (uninstall keys in both views, per-user keys)
// and WMI; macOS asks sw_vers, sysctl, system_profiler and diskutil and
// reads application bundles. The parsing lives in OS-independent functions
// so it is tested everywhere.
package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"

	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/protocol"
)

// maxText is the longest text field protocol.Inventory.Validate accepts,
// in bytes.
const maxText = 512

// Collect gathers the inventory of this machine. It never fails as a whole:
// a part that cannot be read is left empty and explained in Errors, and
// the result always passes protocol.Inventory.Validate.
func Collect(ctx context.Context, reason string) protocol.Inventory {
	inv := protocol.Inventory{
		CollectedAt: time.Now().UTC(),
		Reason:      reason,
		OS:          protocol.OSInfo{Arch: runtime.GOARCH},
	}
	var errs errorList
	collectCommon(ctx, &inv, &errs)
	collectPlatform(ctx, &inv, &errs)
	if inv.OS.Timezone == "" {
		inv.OS.Timezone = localZone()
	}
	inv.Errors = errs.list
	return Sanitize(inv, time.Now())
}

// errorList gathers what could not be collected, as "part: detail".
type errorList struct{ list []string }

func (e *errorList) add(part string, err error) {
	if err != nil {
		e.list = append(e.list, part+": "+err.Error())
	}
}

// collectCommon fills what is read the same way on every OS: the host
// facts (the facts package), the CPU, memory and network adapters.
func collectCommon(ctx context.Context, inv *protocol.Inventory, errs *errorList) {
	if name, version, err := facts.Platform(ctx); err != nil {
		errs.add("os: platform", err)
	} else {
		inv.OS.Name, inv.OS.Version = name, version
	}
	if k, err := facts.KernelVersion(ctx); err != nil {
		errs.add("os: kernel", err)
	} else {
		inv.OS.Build = k
	}
	if a, err := facts.KernelArch(); err == nil && a != "" {
		inv.OS.Arch = a
	}
	if boot, err := facts.BootTime(ctx); err != nil {
		errs.add("os: boot time", err)
	} else {
		inv.OS.LastBoot = boot
	}

	if infos, err := cpu.InfoWithContext(ctx); err != nil {
		errs.add("hardware: cpu", err)
	} else if len(infos) > 0 {
		inv.Hardware.CPU.Model = infos[0].ModelName
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		inv.Hardware.CPU.Cores = n
	}
	if n, err := cpu.CountsWithContext(ctx, true); err != nil {
		errs.add("hardware: cpu count", err)
	} else {
		inv.Hardware.CPU.Threads = n
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err != nil {
		errs.add("hardware: memory", err)
	} else {
		inv.Hardware.MemoryBytes = vm.Total
	}
	if ifaces, err := psnet.InterfacesWithContext(ctx); err != nil {
		errs.add("hardware: network", err)
	} else {
		inv.Hardware.NetworkAdapters = adapters(ifaces)
	}
}

// adapters keeps the interfaces with a hardware address (physical and
// virtual NICs, not loopback or tunnels) and their addresses.
func adapters(ifaces psnet.InterfaceStatList) []protocol.NetworkAdapter {
	var out []protocol.NetworkAdapter
	for _, ifc := range ifaces {
		if ifc.HardwareAddr == "" || slices.Contains(ifc.Flags, "loopback") {
			continue
		}
		a := protocol.NetworkAdapter{Name: ifc.Name, MAC: ifc.HardwareAddr}
		for _, addr := range ifc.Addrs {
			a.IPs = append(a.IPs, addr.Addr)
		}
		out = append(out, a)
	}
	return out
}

// localZone names the local time zone: $TZ, /etc/timezone, the target of
// the /etc/localtime link, or else Go's name for it.
func localZone() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !filepath.IsAbs(tz) {
		return tz
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(b)); tz != "" {
			return tz
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if tz := zoneFromLink(target); tz != "" {
			return tz
		}
	}
	if name := time.Local.String(); name != "Local" {
		return name
	}
	name, _ := time.Now().Zone()
	return name
}

// zoneFromLink takes the zone name from a /etc/localtime link target:
// "/usr/share/zoneinfo/Europe/Berlin" and macOS's
// "/var/db/timezone/zoneinfo/Europe/Berlin" are both "Europe/Berlin".
func zoneFromLink(target string) string {
	_, zone, ok := strings.Cut(filepath.ToSlash(target), "zoneinfo/")
	if !ok {
		return ""
	}
	// zoneinfo/posix/Europe/Berlin and zoneinfo/right/... are variants.
	zone = strings.TrimPrefix(strings.TrimPrefix(zone, "posix/"), "right/")
	return zone
}

// modDate is the modification date of path as YYYY-MM-DD in UTC, or "".
func modDate(fsys fs.FS, path string) string {
	fi, err := fs.Stat(fsys, path)
	if err != nil {
		return ""
	}
	return fi.ModTime().UTC().Format(time.DateOnly)
}

// Sanitize bounds inv to what protocol.Inventory.Validate accepts as of
// now: text is made valid UTF-8 without control characters and cut to the
// protocol's length; entries without a name, bad MAC and IP addresses,
// impossible dates and future times are dropped; software is de-duplicated
// and sorted (by name, then version, source and publisher); lists are
// capped at the protocol's limits.
func Sanitize(inv protocol.Inventory, now time.Time) protocol.Inventory {
	h := &inv.Hardware
	for _, s := range []*string{&h.Manufacturer, &h.Model, &h.Serial, &h.BIOS.Vendor, &h.BIOS.Version, &h.BIOS.Date, &h.CPU.Model,
		&inv.OS.Name, &inv.OS.Version, &inv.OS.Build, &inv.OS.Arch, &inv.OS.Timezone} {
		*s = cleanText(*s)
	}
	h.CPU.Cores = min(max(h.CPU.Cores, 0), 1<<16)
	h.CPU.Threads = min(max(h.CPU.Threads, 0), 1<<16)

	disks := make([]protocol.Disk, 0, len(h.Disks))
	for _, d := range h.Disks {
		d.Name, d.Model, d.Serial = cleanText(d.Name), cleanText(d.Model), cleanText(d.Serial)
		if d.Name != "" {
			disks = append(disks, d)
		}
	}
	// sort.Slice rather than slices.SortFunc here and below: each
	// slices.SortFunc over another struct type compiles its own 14 kB
	// copy of the sort; sort.Slice's one copy serves them all (the lists
	// are short and sorted once a report).
	sort.Slice(disks, func(i, j int) bool { return disks[i].Name < disks[j].Name })
	h.Disks = capSlice(disks, protocol.MaxInventoryDisks)

	nics := make([]protocol.NetworkAdapter, 0, len(h.NetworkAdapters))
	for _, a := range h.NetworkAdapters {
		if a.Name = cleanText(a.Name); a.Name == "" {
			continue
		}
		if mac, err := net.ParseMAC(a.MAC); err == nil {
			a.MAC = mac.String()
		} else {
			a.MAC = ""
		}
		a.IPs = cleanIPs(a.IPs)
		nics = append(nics, a)
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].Name < nics[j].Name })
	h.NetworkAdapters = capSlice(nics, protocol.MaxInventoryAdapters)

	late := now.Add(time.Hour)
	if inv.OS.InstallDate.After(late) {
		inv.OS.InstallDate = time.Time{}
	}
	if inv.OS.LastBoot.After(late) {
		inv.OS.LastBoot = time.Time{}
	}

	inv.Software = cleanSoftware(inv.Software)

	errs := make([]string, 0, len(inv.Errors))
	for _, e := range inv.Errors {
		if e = cleanText(e); e != "" {
			errs = append(errs, e)
		}
	}
	if len(errs) > protocol.MaxInventoryErrors {
		errs = append(errs[:protocol.MaxInventoryErrors-1], fmt.Sprintf("%d more errors", len(errs)-protocol.MaxInventoryErrors+1))
	}
	inv.Errors = errs
	if len(inv.Errors) == 0 {
		inv.Errors = nil
	}
	return inv
}

// cleanSoftware cleans, de-duplicates, sorts and caps a software list.
// Entries identical in name, version and publisher are one program seen
// twice (both registry views of a 32-bit Windows, where they are the same
// view, say); the first source in sort order is kept.
func cleanSoftware(list []protocol.Software) []protocol.Software {
	out := make([]protocol.Software, 0, len(list))
	for _, s := range list {
		s.Name, s.Version, s.Publisher = cleanText(s.Name), cleanText(s.Version), cleanText(s.Publisher)
		if s.Name == "" || s.Source == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, s.InstallDate); err != nil {
			s.InstallDate = ""
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return compareSoftware(out[i], out[j]) < 0 })
	out = slices.CompactFunc(out, func(a, b protocol.Software) bool {
		return a.Name == b.Name && a.Version == b.Version && a.Publisher == b.Publisher
	})
	return capSlice(out, protocol.MaxSoftware)
}

// compareSoftware orders by name (case-insensitive first, so "apt" and
// "Apache" sort as people expect), version, source (the 64-bit or only
// registry view first), publisher and date.
func compareSoftware(a, b protocol.Software) int {
	return cmp.Or(
		strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.Version, b.Version),
		cmp.Compare(sourceRank(a.Source), sourceRank(b.Source)),
		strings.Compare(a.Source, b.Source),
		strings.Compare(a.Publisher, b.Publisher),
		strings.Compare(a.InstallDate, b.InstallDate),
	)
}

// sourceRank puts the machine-wide registry views before the per-user one
// and the rest.
func sourceRank(source string) int {
	switch source {
	case protocol.SoftwareRegistry64:
		return 0
	case protocol.SoftwareRegistry32:
		return 1
	}
	return 2
}

// cleanIPs keeps addresses and prefixes that parse, in canonical form,
// de-duplicated and capped.
func cleanIPs(ips []string) []string {
	var out []string
	for _, s := range ips {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).String())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap().String())
		}
	}
	slices.Sort(out)
	return capSlice(slices.Compact(out), protocol.MaxIPs)
}

func capSlice[T any](l []T, limit int) []T {
	if len(l) > limit {
		return l[:limit]
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

// cleanText makes s valid UTF-8 without control characters (tabs and
// newlines become spaces), collapses runs of spaces, and cuts it to
// maxText bytes on a rune boundary.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}

// quiet reports whether err means the source is simply not there or not
// readable by this user (no DMI in a container, a serial only root may
// read): the field stays empty, which already means "unknown".
func quiet(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}
