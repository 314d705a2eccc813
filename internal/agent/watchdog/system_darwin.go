package watchdog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// agentLabel is the agent's launchd daemon (see the layout).
const agentLabel = "com.steward.agent"

// SystemServices returns the ServiceManager for the watched services on
// macOS: processes by name (launchd labels are not what an administrator
// names a service by).
func SystemServices() ServiceManager { return processes{} }

// SystemAgent returns the agent's launchd daemon; launchd always runs
// macOS.
func SystemAgent() (AgentService, bool) {
	return NewAgentService(launchd{}, agentLabel), true
}

// launchd is the ServiceManager of system daemons by label, through
// launchctl. Never run on a Mac here: parseLaunchctlPrint is tested on
// launchctl's documented output only.
type launchd struct{}

// launchctlNotFound is launchctl print's exit status for an unknown label.
const launchctlNotFound = 113

func (launchd) State(ctx context.Context, label string) (ServiceState, error) {
	out, err := exec.CommandContext(ctx, "launchctl", "print", "system/"+label).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == launchctlNotFound {
		return ServiceState{}, nil
	}
	if err != nil {
		return ServiceState{}, fmt.Errorf("launchctl print system/%s: %w", label, err)
	}
	return parseLaunchctlPrint(out), nil
}

func (launchd) Start(ctx context.Context, label string) error {
	return launchctl(ctx, "kickstart", "system/"+label)
}

func (launchd) Stop(ctx context.Context, label string) error {
	return launchctl(ctx, "kill", "SIGTERM", "system/"+label)
}

func launchctl(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "launchctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("launchctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
