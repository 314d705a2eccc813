package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/agent/service"
)

// msiRemoveTimeout bounds msiexec /x: it waits for any other install to
// end first, and stops the services with the SCM's own waits.
const msiRemoveTimeout = 10 * time.Minute

// msiWindows is Windows Installer through msiexec.exe and msi.dll.
type msiWindows struct{}

func platformMSI() msiHost { return msiWindows{} }

func (msiWindows) Product() string { return service.MSIProduct() }
func (msiWindows) RunByMSI() bool  { return service.RunByMSI() }

// Remove runs msiexec /x product /qn /norestart with props, logging to
// %TEMP%\steward-agent-msi-uninstall.log. Success is exit 0, or 3010 and
// 1641 (done, a restart finishes it), or 1605 (the product is no longer
// installed: someone else removed it meanwhile).
func (msiWindows) Remove(ctx context.Context, product string, props ...string) error {
	sys, err := windows.GetSystemDirectory()
	if err != nil {
		return fmt.Errorf("find msiexec.exe: %w", err)
	}
	log := filepath.Join(os.TempDir(), "steward-agent-msi-uninstall.log")
	args := append([]string{"/x", product, "/qn", "/norestart", "/l*v", log}, props...)
	ctx, cancel := context.WithTimeout(ctx, msiRemoveTimeout)
	defer cancel()
	err = exec.CommandContext(ctx, filepath.Join(sys, "msiexec.exe"), args...).Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case 3010, 1641, 1605:
			return nil
		case 1618:
			return fmt.Errorf("another installation is in progress; try again when it ends (exit 1618)")
		}
		return fmt.Errorf("exit %d (log: %s)", exit.ExitCode(), log)
	}
	return err
}
