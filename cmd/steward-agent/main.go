// Command steward-agent is the Steward RMM agent: it enrolls a machine with
// a Steward server and keeps it connected. See internal/agent/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/steward-rmm/steward/internal/agent/cli"
	"github.com/steward-rmm/steward/internal/agent/footprint"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "run" || os.Args[1] == "watchdog") {
		// The long-running roles; here rather than in cli so that tests
		// running them in-process keep their own runtime settings.
		footprint.Tune()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
