package actions

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newServices() services { return systemd{} }

// systemd manages systemd's service units through systemctl.
type systemd struct{}

// errNoSystemd explains a machine without systemd (a container, an init
// other than systemd).
var errNoSystemd = errors.New("this machine's services are not managed by systemd (systemctl is not installed)")

func (systemd) run(ctx context.Context, args ...string) ([]byte, error) {
	out, err := runTool(ctx, "systemctl", args...)
	if errors.Is(err, errNoTool) {
		return nil, errNoSystemd
	}
	if err != nil && ctx.Err() == nil {
		// systemd creates this directory when it runs as PID 1 (what
		// sd_booted checks): without it systemctl cannot work, whatever it
		// said.
		if _, serr := os.Stat("/run/systemd/system"); serr != nil {
			return out, fmt.Errorf("this machine does not run systemd (PID 1 is another init): %w", err)
		}
	}
	return out, err
}

func (s systemd) list(ctx context.Context) (protocol.ServiceList, error) {
	units, err := s.run(ctx, "list-units", "--type=service", "--all", "--plain", "--no-legend", "--no-pager", "--full")
	if err != nil {
		return protocol.ServiceList{}, fmt.Errorf("list services: %w", err)
	}
	files, err := s.run(ctx, "list-unit-files", "--type=service", "--plain", "--no-legend", "--no-pager", "--full")
	if err != nil {
		return protocol.ServiceList{}, fmt.Errorf("list services: %w", err)
	}
	return protocol.ServiceList{Manager: protocol.ManagerSystemd,
		Services: mergeSystemd(parseSystemdUnits(units), parseSystemdUnitFiles(files))}, nil
}

func (s systemd) info(ctx context.Context, unit string) (protocol.ServiceInfo, error) {
	out, err := s.run(ctx, "show", "-p", systemdShowProps, "--", unit)
	if err != nil {
		return protocol.ServiceInfo{}, err
	}
	return parseSystemdShow(out)
}

// control runs systemctl ACTION, which waits for the unit's job to end,
// then waits for the state the action leaves it in.
func (s systemd) control(ctx context.Context, name, action string) (protocol.ServiceInfo, error) {
	unit, err := systemdUnit(name)
	if err != nil {
		return protocol.ServiceInfo{}, err
	}
	if _, err := s.info(ctx, unit); err != nil {
		return protocol.ServiceInfo{}, fmt.Errorf("%s %s: %w", action, unit, err)
	}
	if _, err := s.run(ctx, action, "--", unit); err != nil {
		return protocol.ServiceInfo{}, fmt.Errorf("%s %s: %w", action, unit, err)
	}
	return settle(ctx, unit, wantState(action), func(ctx context.Context) (protocol.ServiceInfo, error) { return s.info(ctx, unit) })
}
