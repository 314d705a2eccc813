package config

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// DefaultPath is where install writes the config and run reads it:
// %ProgramData%\Steward\agent.json.
func DefaultPath() string {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || dir == "" {
		dir = os.Getenv("ProgramData")
	}
	if dir == "" {
		dir = `C:\ProgramData`
	}
	return filepath.Join(dir, "Steward", "agent.json")
}
