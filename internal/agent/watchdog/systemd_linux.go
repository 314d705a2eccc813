package watchdog

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// systemd is the ServiceManager of a Linux machine booted with systemd:
// services are units, named as systemctl accepts them ("nginx" or
// "nginx.service").
type systemd struct {
	systemctl string // the program; tests put a fake one here
}

func (s systemd) State(ctx context.Context, name string) (ServiceState, error) {
	out, err := s.run(ctx, "show", "--property=LoadState,ActiveState,MainPID", "--", name)
	if err != nil {
		return ServiceState{}, err
	}
	return parseSystemdShow(out)
}

// parseSystemdShow reads `systemctl show --property=...` output.
func parseSystemdShow(out []byte) (ServiceState, error) {
	props := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	load, ok := props["LoadState"]
	if !ok {
		return ServiceState{}, fmt.Errorf("systemctl show: no LoadState in %q", bytes.TrimSpace(out))
	}
	if load == "not-found" {
		return ServiceState{}, nil
	}
	st := ServiceState{Exists: true}
	switch props["ActiveState"] {
	case "active", "reloading":
		st.Running = true
		st.PID, _ = strconv.Atoi(props["MainPID"])
	}
	return st, nil
}

func (s systemd) Start(ctx context.Context, name string) error {
	_, err := s.run(ctx, "start", "--", name)
	return err
}

func (s systemd) Stop(ctx context.Context, name string) error {
	_, err := s.run(ctx, "stop", "--", name)
	return err
}

func (s systemd) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.systemctl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
