// Package cli implements the steward-agent command line. cmd/steward-agent
// only wires signals and the process exit code to Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
)

// Exit codes shared by every command. status adds its own (see statusHelp).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `steward-agent is the Steward RMM agent.

Usage:
  steward-agent install --server URL[,URL...] --token -|--token-file FILE|--token TOKEN [--config PATH] [--no-service] [--force]
  steward-agent uninstall [--keep-config] [--config PATH]
  steward-agent run [--config PATH] [--log-level LEVEL]
  steward-agent status [--config PATH]
  steward-agent watchdog [--config PATH] [--supervise]
  steward-agent inventory
  steward-agent tray [--log PATH]
  steward-agent version

Run "steward-agent COMMAND -h" for details of a command.
`

// Run executes the command in args (without the program name) and returns
// the process exit code. ctx is cancelled on SIGINT/SIGTERM.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "install":
		return install(ctx, rest, os.Stdin, os.LookupEnv, stdout, stderr)
	case "uninstall":
		return uninstall(ctx, rest, stdout, stderr)
	case "run":
		return serve(ctx, service.Agent, rest, stdout, stderr, run)
	case "status":
		return status(ctx, rest, stdout, stderr)
	case "watchdog":
		return serve(ctx, service.Watchdog, rest, stdout, stderr, watchdog)
	case "inventory":
		return printInventory(ctx, rest, stdout, stderr)
	case "tray":
		return trayCommand(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		return versionCheck(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "steward-agent: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// newFlagSet builds a command's flag set with the shared --config flag.
func newFlagSet(name, help string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := newFlags(name, help, stderr)
	path := fs.String("config", config.DefaultPath(), "agent config file")
	return fs, path
}

// newFlags builds a command's flag set whose usage prints help.
func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("steward-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; ok is false when the command should exit with code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

// shellQuote quotes a path for the command lines we print, when it needs it
// ("/Library/Application Support/..." does). Double quotes work in sh,
// cmd.exe and PowerShell alike for paths without $ or ".
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"&;|()<>$`*?[]#~%!") {
		return s
	}
	return `"` + s + `"`
}
