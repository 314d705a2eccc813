package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/service"
)

// recordVersion writes the uninstall registry entry with the version this
// binary is, so that the software list never shows a stale version after
// an update. A failure is logged: it costs the listing only.
func recordVersion(log io.Writer) {
	exe, err := os.Executable()
	if err == nil {
		_, err = service.WriteUninstallEntry(exe, agent.Version)
	}
	if err != nil {
		fmt.Fprintf(log, "cannot record the agent in the installed software list: %v\n", err)
	}
}

// removeBinary removes the installed binary and its directory. Windows
// does not delete a running executable, and uninstall usually runs from
// the installed binary itself: that file and the directory are then moved
// to the delete-at-restart list (MoveFileEx with MOVEFILE_DELAY_UNTIL_REBOOT,
// which needs Administrator, as uninstall does). A detached "cmd /c del"
// would race with this process's exit.
func removeBinary(path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	dir := filepath.Dir(path)
	err := os.Remove(path)
	if err == nil {
		os.Remove(dir)
		return "Removed " + path + ".", nil
	}
	// A running image can be renamed: move it aside first and schedule
	// that name, so that a reinstall before the restart puts a new binary
	// at path which the restart then leaves alone.
	aside := fmt.Sprintf("%s.%d.removed", path, time.Now().UnixNano())
	if err := os.Rename(path, aside); err == nil {
		path = aside
	}
	p, perr := windows.UTF16PtrFromString(path)
	if perr != nil {
		return "", perr
	}
	if err := windows.MoveFileEx(p, nil, windows.MOVEFILE_DELAY_UNTIL_REBOOT); err != nil {
		return "", fmt.Errorf("remove %s: %w (and it cannot be scheduled for deletion at restart)", path, err)
	}
	// Deleted at restart after the file, in the order scheduled; a
	// directory that is not empty by then stays.
	if d, err := windows.UTF16PtrFromString(dir); err == nil {
		windows.MoveFileEx(d, nil, windows.MOVEFILE_DELAY_UNTIL_REBOOT)
	}
	return path + " is in use; it is deleted at the next restart.", nil
}
