package inventory

import (
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// uninstallEntry holds the values of one Windows uninstall key
// (...\CurrentVersion\Uninstall\<id>) that matter to the inventory.
type uninstallEntry struct {
	DisplayName     string
	DisplayVersion  string
	Publisher       string
	InstallDate     string
	ParentKeyName   string
	ReleaseType     string
	SystemComponent uint64
}

// uninstallSoftware maps an uninstall key to a software entry the way
// "Apps & features" lists programs: keys without DisplayName, system
// components, and updates of another program (ParentKeyName, or a
// ReleaseType of update or hotfix) are not programs of their own.
func uninstallSoftware(e uninstallEntry, source string) (protocol.Software, bool) {
	name := strings.TrimSpace(e.DisplayName)
	if name == "" || e.SystemComponent == 1 || strings.TrimSpace(e.ParentKeyName) != "" {
		return protocol.Software{}, false
	}
	switch strings.ToLower(strings.TrimSpace(e.ReleaseType)) {
	case "update", "hotfix", "security update", "service pack":
		return protocol.Software{}, false
	}
	return protocol.Software{
		Name: name, Version: strings.TrimSpace(e.DisplayVersion), Publisher: strings.TrimSpace(e.Publisher),
		InstallDate: registryDate(e.InstallDate), Source: source,
	}, true
}

// registryDate turns an uninstall key's InstallDate, YYYYMMDD by
// convention, into YYYY-MM-DD. Installers write other things too; what is
// not a real date is dropped.
func registryDate(s string) string {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"20060102", time.DateOnly, "2006/01/02", "1/2/2006"} {
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1980 {
			return t.Format(time.DateOnly)
		}
	}
	return ""
}

// windowsVersion holds the values of
// HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion the inventory reads.
type windowsVersion struct {
	ProductName    string
	DisplayVersion string // "23H2"; older releases have only ReleaseId
	ReleaseID      string
	CurrentBuild   string
	UBR            uint64 // update build revision
	InstallDate    uint64 // Unix seconds
}

// windowsOS maps the CurrentVersion values to the OS fields. Windows 11
// still calls itself "Windows 10" in ProductName; build 22000 and later
// is Windows 11.
func windowsOS(v windowsVersion) protocol.OSInfo {
	o := protocol.OSInfo{Name: strings.TrimSpace(v.ProductName), Version: v.DisplayVersion}
	if o.Version == "" {
		o.Version = v.ReleaseID
	}
	build, _ := strconv.Atoi(v.CurrentBuild)
	if build >= 22000 && strings.HasPrefix(o.Name, "Windows 10") {
		o.Name = "Windows 11" + strings.TrimPrefix(o.Name, "Windows 10")
	}
	o.Build = v.CurrentBuild
	if o.Build != "" && v.UBR > 0 {
		o.Build += "." + strconv.FormatUint(v.UBR, 10)
	}
	if v.InstallDate > 0 {
		o.InstallDate = time.Unix(int64(v.InstallDate), 0).UTC()
	}
	return o
}
