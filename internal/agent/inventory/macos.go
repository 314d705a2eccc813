package inventory

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"howett.net/plist"

	"github.com/steward-rmm/steward/internal/protocol"
)

// parseSwVers reads the output of macOS's sw_vers:
//
//	ProductName:		macOS
//	ProductVersion:		15.1
//	BuildVersion:		24B83
func parseSwVers(out []byte) (name, version, build string) {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.TrimSpace(key) {
		case "ProductName":
			name = val
		case "ProductVersion":
			version = val
		case "BuildVersion":
			build = val
		}
	}
	return name, version, build
}

// spHardware is the part of `system_profiler -json SPHardwareDataType`
// the inventory reads.
type spHardware struct {
	SPHardwareDataType []struct {
		MachineName    string `json:"machine_name"`
		MachineModel   string `json:"machine_model"`
		SerialNumber   string `json:"serial_number"`
		BootROMVersion string `json:"boot_rom_version"`
	} `json:"SPHardwareDataType"`
}

// parseSPHardware fills the machine, serial and firmware fields from
// system_profiler's hardware overview. The model reads like "MacBook Pro
// (MacBookPro18,3)": the marketing name and the model identifier.
func parseSPHardware(out []byte, h *protocol.Hardware) error {
	var sp spHardware
	if err := json.Unmarshal(out, &sp); err != nil {
		return fmt.Errorf("parse system_profiler output: %w", err)
	}
	if len(sp.SPHardwareDataType) == 0 {
		return fmt.Errorf("parse system_profiler output: no hardware overview")
	}
	hw := sp.SPHardwareDataType[0]
	h.Manufacturer = "Apple Inc."
	switch {
	case hw.MachineName != "" && hw.MachineModel != "":
		h.Model = hw.MachineName + " (" + hw.MachineModel + ")"
	default:
		h.Model = hw.MachineName + hw.MachineModel
	}
	h.Serial = hw.SerialNumber
	if hw.BootROMVersion != "" {
		h.BIOS.Vendor = "Apple Inc."
		h.BIOS.Version = hw.BootROMVersion
	}
	return nil
}

// parseDiskutilList reads the whole-disk identifiers ("disk0") from
// `diskutil list -plist physical`.
func parseDiskutilList(out []byte) ([]string, error) {
	var l struct {
		WholeDisks []string `plist:"WholeDisks"`
	}
	if _, err := plist.Unmarshal(out, &l); err != nil {
		return nil, fmt.Errorf("parse diskutil list: %w", err)
	}
	return l.WholeDisks, nil
}

// parseDiskutilInfo reads one disk from `diskutil info -plist diskN`.
func parseDiskutilInfo(out []byte) (protocol.Disk, error) {
	var i struct {
		DeviceIdentifier string `plist:"DeviceIdentifier"`
		MediaName        string `plist:"MediaName"`
		IORegistryName   string `plist:"IORegistryEntryName"`
		TotalSize        uint64 `plist:"TotalSize"`
		Size             uint64 `plist:"Size"`
	}
	if _, err := plist.Unmarshal(out, &i); err != nil {
		return protocol.Disk{}, fmt.Errorf("parse diskutil info: %w", err)
	}
	d := protocol.Disk{Name: i.DeviceIdentifier, Model: i.MediaName, SizeBytes: max(i.TotalSize, i.Size)}
	if d.Model == "" {
		d.Model = strings.TrimSuffix(i.IORegistryName, " Media")
	}
	return d, nil
}

// infoPlist is the part of an application bundle's Contents/Info.plist the
// inventory reads. Info.plist files are XML or binary; the plist library
// reads both.
type infoPlist struct {
	Name         string `plist:"CFBundleName"`
	DisplayName  string `plist:"CFBundleDisplayName"`
	ShortVersion string `plist:"CFBundleShortVersionString"`
	Version      string `plist:"CFBundleVersion"`
	Copyright    string `plist:"NSHumanReadableCopyright"`
}

// appSoftware maps an application bundle's Info.plist to a software
// entry. bundle is the bundle's file name ("Safari.app"), the name of
// last resort.
func appSoftware(data []byte, bundle string, c *copyrightPatterns) (protocol.Software, error) {
	var p infoPlist
	if _, err := plist.Unmarshal(data, &p); err != nil {
		return protocol.Software{}, fmt.Errorf("%s: parse Info.plist: %w", bundle, err)
	}
	s := protocol.Software{
		Name:      firstNonEmpty(p.DisplayName, p.Name, strings.TrimSuffix(path.Base(bundle), ".app")),
		Version:   firstNonEmpty(p.ShortVersion, p.Version),
		Publisher: c.publisher(p.Copyright),
		Source:    protocol.SoftwareApplications,
	}
	return s, nil
}

// scanApplications lists the application bundles in an Applications
// folder (fsys) and in its subfolders one level down, such as Utilities
// or a vendor's folder; bundles inside bundles are not programs of their
// own. The install date is the bundle's modification time. Bundles whose
// Info.plist cannot be read are reported in the error and skipped.
func scanApplications(fsys fs.FS) ([]protocol.Software, error) {
	var out []protocol.Software
	var errs []string
	copyright := newCopyrightPatterns()
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			errs = append(errs, err.Error())
			return
		}
		for _, e := range entries {
			name := path.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := fs.Stat(fsys, name) // follows links to bundles
			if err != nil || !fi.IsDir() {
				continue
			}
			if !strings.HasSuffix(e.Name(), ".app") {
				if depth == 0 {
					walk(name, depth+1)
				}
				continue
			}
			data, err := fs.ReadFile(fsys, name+"/Contents/Info.plist")
			if err != nil {
				if !quiet(err) {
					errs = append(errs, err.Error())
				}
				continue
			}
			s, err := appSoftware(data, e.Name(), copyright)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			s.InstallDate = fi.ModTime().UTC().Format("2006-01-02")
			out = append(out, s)
		}
	}
	walk(".", 0)
	if len(errs) > 0 {
		more := ""
		if len(errs) > 3 {
			more = fmt.Sprintf(" and %d more", len(errs)-3)
			errs = errs[:3]
		}
		return out, fmt.Errorf("%s%s", strings.Join(errs, "; "), more)
	}
	return out, nil
}

// copyrightPatterns strip a bundle's copyright line down to its holder.
// They are compiled once per scan of an Applications folder, which only
// macOS does, rather than when the package loads: then the agents for
// other systems do not link regexp.
type copyrightPatterns struct {
	words, leadingYears, corpSuffix *regexp.Regexp
}

func newCopyrightPatterns() *copyrightPatterns {
	return &copyrightPatterns{
		words:        regexp.MustCompile(`(?i)copyright|\(c\)|©|℗|\ball rights reserved\b.*$`),
		leadingYears: regexp.MustCompile(`^[\d\s,\-–—./]+`),
		corpSuffix:   regexp.MustCompile(`(?i)\b(inc|ltd|co|corp|s\.a|n\.v|b\.v)\.$`),
	}
}

// publisher guesses the publisher from a bundle's copyright line:
// "Copyright © 2024 Google LLC. All rights reserved." is "Google LLC".
// Bundles carry no publisher of their own; this is best effort and may be
// empty.
func (c *copyrightPatterns) publisher(s string) string {
	s = c.words.ReplaceAllString(s, " ")
	s = strings.TrimSpace(c.leadingYears.ReplaceAllString(strings.TrimSpace(s), ""))
	s = strings.TrimRight(s, " ,;")
	if strings.HasSuffix(s, ".") && !c.corpSuffix.MatchString(s) {
		s = strings.TrimSuffix(s, ".")
	}
	if len(s) > 100 { // a sentence, not a name
		return ""
	}
	return strings.TrimSpace(s)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
