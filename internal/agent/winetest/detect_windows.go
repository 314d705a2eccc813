package winetest

import "golang.org/x/sys/windows/registry"

// Detected reports whether this process runs under wine, which keeps its
// own settings under HKLM\Software\Wine.
func Detected() bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}
