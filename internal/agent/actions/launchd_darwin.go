package actions

import (
	"context"
	"fmt"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newServices() services { return launchd{} }

// launchd manages the jobs of launchd's system domain through launchctl.
// Stopping a job sends it SIGTERM: a job that launchd keeps alive starts
// again; unloading it (bootout) would lose where its plist is.
type launchd struct{}

func (launchd) list(ctx context.Context) (protocol.ServiceList, error) {
	out, err := runTool(ctx, "launchctl", "list")
	if err != nil {
		return protocol.ServiceList{}, fmt.Errorf("list services: %w", err)
	}
	return protocol.ServiceList{Manager: protocol.ManagerLaunchd, Services: parseLaunchctlList(out)}, nil
}

func (launchd) info(ctx context.Context, label string) (protocol.ServiceInfo, error) {
	out, err := runTool(ctx, "launchctl", "print", "system/"+label)
	if err != nil {
		return protocol.ServiceInfo{}, err
	}
	return parseLaunchctlPrint(label, out), nil
}

func (l launchd) control(ctx context.Context, label, action string) (protocol.ServiceInfo, error) {
	if err := launchdLabel(label); err != nil {
		return protocol.ServiceInfo{}, err
	}
	if _, err := l.info(ctx, label); err != nil {
		return protocol.ServiceInfo{}, fmt.Errorf("%s %s: %w", action, label, err)
	}
	args := map[string][]string{
		protocol.ServiceStart:   {"kickstart", "system/" + label},
		protocol.ServiceRestart: {"kickstart", "-k", "system/" + label},
		protocol.ServiceStop:    {"kill", "SIGTERM", "system/" + label},
	}[action]
	if _, err := runTool(ctx, "launchctl", args...); err != nil {
		return protocol.ServiceInfo{}, fmt.Errorf("%s %s: %w", action, label, err)
	}
	return settle(ctx, label, wantState(action), func(ctx context.Context) (protocol.ServiceInfo, error) { return l.info(ctx, label) })
}
