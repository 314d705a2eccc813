package service

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// Exit codes of run and watchdog that Serve relies on: 0 only for a
// requested stop, anything else asks the service manager for a restart.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitPanic = 3 // a panic recovered at the service boundary
)

// Body is a command run as a service: it returns when ctx is cancelled
// (ExitOK) or when it fails, and logs to stderr.
type Body func(ctx context.Context, stderr io.Writer) int

// guard runs body, turning a panic into ExitPanic with its stack in log.
func guard(ctx context.Context, log io.Writer, body Body) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(log, "panic: %v\n\n%s\n", p, debug.Stack())
			code = ExitPanic
		}
	}()
	return body(ctx, log)
}
