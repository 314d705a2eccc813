package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/steward-rmm/steward/internal/agent/tray"
)

const trayHelp = `Usage: steward-agent tray [--log PATH]

Shows the Steward icon in the notification area of the logged-in user's
session: connected, disconnected or needing attention, with the menu the
policy's "tray" section sets (company name, support contact, links,
"Request help", "About this computer"). Install and uninstall set it to
start at login for every user; it runs once per session.

It runs the icon in a child process of the same binary and restarts it if
it crashes (a few times an hour) or when the agent binary is updated. It
has no console: it logs to PATH, by default Steward/tray.log in the user's
cache directory.

Exit codes: 0 stopped, or another tray already runs in this session;
1 failed to start; 2 usage error.
`

func trayCommand(ctx context.Context, args []string, _, stderr io.Writer) int {
	fl := newFlags("tray", trayHelp, stderr)
	logPath := fl.String("log", "", "log file (default Steward/tray.log in the user's cache directory)")
	ui := fl.Bool("ui", false, "run the icon itself; the tray's parent process starts it this way")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if err := tray.Supported(); err != nil {
		fmt.Fprintf(stderr, "steward-agent tray: %v\n", err)
		return exitFail
	}
	if *ui {
		return trayUI(ctx, stderr)
	}
	return traySupervise(ctx, *logPath, stderr)
}

// traySupervise is the parent: one per session, logging to the file and
// keeping the UI child running.
func traySupervise(ctx context.Context, logPath string, stderr io.Writer) int {
	tray.DetachConsole()
	lock, err := tray.AcquireLock()
	if errors.Is(err, tray.ErrRunning) {
		fmt.Fprintln(stderr, "steward-agent tray: already running in this session")
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "steward-agent tray: %v\n", err)
		return exitFail
	}
	defer lock.Release()
	if logPath == "" {
		if logPath, err = tray.DefaultLogPath(); err != nil {
			fmt.Fprintf(stderr, "steward-agent tray: %v\n", err)
			return exitFail
		}
	}
	logFile, err := tray.OpenLog(logPath, 0)
	if err != nil {
		fmt.Fprintf(stderr, "steward-agent tray: %v\n", err)
		return exitFail
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))
	exe, err := os.Executable()
	if err != nil {
		log.Error("cannot find the agent binary", "err", err)
		return exitFail
	}
	s := &tray.Supervisor{Args: []string{exe, "tray", "--ui"}, Output: logFile, Log: log}
	log.Info("tray started", "binary", exe, "pid", os.Getpid())
	if err := s.Run(ctx); err != nil {
		log.Error("tray stopped", "err", err)
		return exitFail
	}
	log.Info("tray stopped")
	return exitOK
}

// trayUI is the child: it shows the icon until its parent closes its
// standard input (or dies), and logs to standard error, which the parent
// writes to the log file.
func trayUI(ctx context.Context, stderr io.Writer) int {
	ctx, cancel := tray.WatchParent(ctx, os.Stdin)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ui := &tray.UI{Agent: newTrayAgent(), Log: log}
	err := ui.Run(ctx)
	switch {
	case errors.Is(err, tray.ErrHidden):
		return tray.ExitHidden
	case err != nil:
		log.Error("tray UI failed", "err", err)
		return exitFail
	}
	return exitOK
}

// newTrayAgent is the tray's way to the agent service: the local IPC
// endpoint (STEWARD_AGENT_IPC or the default).
func newTrayAgent() tray.Agent { return ipcTrayAgent{endpoint: ipcEndpoint()} }
