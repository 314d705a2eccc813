// Command steward-sim simulates many steward agents in one process against
// a steward server, to measure the server at scale. See internal/sim.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/steward-rmm/steward/internal/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := sim.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
