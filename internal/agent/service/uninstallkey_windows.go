package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// UninstallKey is where Windows lists installed software ("Apps &
// features", winget, inventory tools), in the 64-bit view.
const UninstallKey = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\StewardAgent`

// WriteUninstallEntry records the agent in the uninstall registry with the
// version it runs. run calls it at every start so the version shown never
// goes stale after an update; it reports whether a value changed.
func WriteUninstallEntry(binary, version string) (bool, error) {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, UninstallKey, registry.QUERY_VALUE|registry.SET_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", UninstallKey, err)
	}
	defer k.Close()
	uninstall := `"` + binary + `" uninstall`
	quiet := uninstall
	// Installed by an MSI (which hides its own entry): uninstall through
	// msiexec, so Windows Installer forgets the product too.
	if code := MSIProduct(); code != "" {
		uninstall = "MsiExec.exe /X" + code
		quiet = uninstall + " /qn"
	}
	strs := []struct{ name, value string }{
		{"DisplayName", "Steward Agent"},
		{"DisplayVersion", version},
		{"Publisher", "Steward"},
		{"UninstallString", uninstall},
		{"QuietUninstallString", quiet},
		{"InstallLocation", filepath.Dir(binary)},
		{"DisplayIcon", binary},
	}
	changed := false
	for _, s := range strs {
		if cur, _, err := k.GetStringValue(s.name); err == nil && cur == s.value {
			continue
		}
		if err := k.SetStringValue(s.name, s.value); err != nil {
			return changed, fmt.Errorf("write %s\\%s: %w", UninstallKey, s.name, err)
		}
		changed = true
	}
	// There is nothing to modify or repair: only the uninstall button.
	for _, name := range []string{"NoModify", "NoRepair"} {
		if cur, _, err := k.GetIntegerValue(name); err == nil && cur == 1 {
			continue
		}
		if err := k.SetDWordValue(name, 1); err != nil {
			return changed, fmt.Errorf("write %s\\%s: %w", UninstallKey, name, err)
		}
		changed = true
	}
	return changed, nil
}

// RemoveUninstallEntry deletes the entry and reports whether it was there.
func RemoveUninstallEntry() (bool, error) {
	err := registry.DeleteKey(registry.LOCAL_MACHINE, UninstallKey)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("delete %s: %w", UninstallKey, err)
}

var procMsiEnumRelatedProducts = windows.NewLazySystemDLL("msi.dll").NewProc("MsiEnumRelatedProductsW")

// MSIProduct returns the product code of the installed Steward Agent MSI
// (found by MSIUpgradeCode), or "" when no MSI installed the agent.
func MSIProduct() string { return msiProduct(MSIUpgradeCode) }

// RunByMSI reports whether Windows Installer started this process: a
// custom action of the MSI runs as a child of msiexec.exe. An uninstall
// run so must do the work itself, never hand it back to msiexec.
func RunByMSI() bool {
	parent, err := parentImage(uint32(os.Getpid()))
	return err == nil && strings.EqualFold(parent, "msiexec.exe")
}

// msiProduct returns the product code of the installed MSI with
// upgradeCode, or "" when there is none (or Windows Installer cannot say).
func msiProduct(upgradeCode string) string {
	if procMsiEnumRelatedProducts.Find() != nil {
		return ""
	}
	uc, err := windows.UTF16PtrFromString(upgradeCode)
	if err != nil {
		return ""
	}
	var buf [39]uint16 // a GUID in braces and its NUL
	r, _, _ := procMsiEnumRelatedProducts.Call(uintptr(unsafe.Pointer(uc)), 0, 0, uintptr(unsafe.Pointer(&buf[0])))
	if r != 0 { // ERROR_NO_MORE_ITEMS, or any failure
		return ""
	}
	return windows.UTF16ToString(buf[:])
}
