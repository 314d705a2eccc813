package cli

import (
	"context"
	"io"

	"github.com/steward-rmm/steward/internal/agent/service"
)

// command is the signature of the commands a service manager runs.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// serve runs cmd as role's service when the Windows SCM started this
// process: the SCM sees StartPending → Running → StopPending → Stopped, a
// Stop cancels ctx, a panic becomes exit code 3 and output goes to the
// service log. Otherwise (a terminal, systemd, launchd) cmd runs as is.
// The agent records its version in the installed software list each time
// it starts as a service.
func serve(ctx context.Context, role service.Role, args []string, stdout, stderr io.Writer, cmd command) int {
	code, isService := service.Serve(ctx, role, func(ctx context.Context, log io.Writer) int {
		if role == service.Agent {
			recordVersion(log)
		}
		return cmd(ctx, args, log, log)
	})
	if isService {
		return code
	}
	return cmd(ctx, args, stdout, stderr)
}
