package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/steward-rmm/steward/internal/agent/service"
)

type fakeServices struct {
	states map[service.Role]service.State
	fail   error
	calls  []string
}

func (f *fakeServices) Query(_ context.Context, r service.Role) (service.State, error) {
	f.calls = append(f.calls, "query "+string(r))
	return f.states[r], nil
}

func (f *fakeServices) Start(_ context.Context, r service.Role) error {
	f.calls = append(f.calls, "start "+string(r))
	return f.fail
}

func (f *fakeServices) Install(_ context.Context, s service.Spec) (service.Result, error) {
	f.calls = append(f.calls, "install "+s.Binary+" "+s.Config)
	return service.Result{Changes: []string{"registered"}}, f.fail
}

func TestMendWatchdog(t *testing.T) {
	const pid = 4242
	self := service.State{Installed: true, Running: true, PID: pid}
	spec := service.Spec{Binary: "/usr/local/bin/steward-agent", Config: "/etc/steward-agent/agent.json"}
	tests := []struct {
		name  string
		agent service.State
		wd    service.State
		fail  error
		want  []string
	}{
		{"running as a service, watchdog fine", self, service.State{Installed: true, Running: true, PID: 7},
			nil, []string{"query agent", "query watchdog"}},
		{"watchdog stopped", self, service.State{Installed: true},
			nil, []string{"query agent", "query watchdog", "start watchdog"}},
		{"watchdog never registered", self, service.State{},
			nil, []string{"query agent", "query watchdog", "install " + spec.Binary + " " + spec.Config}},
		{"start fails: logged, no more", self, service.State{Installed: true},
			errors.New("access denied"), []string{"query agent", "query watchdog", "start watchdog"}},
		{"run by hand: another process is the service", service.State{Installed: true, Running: true, PID: 1}, service.State{},
			nil, []string{"query agent"}},
		{"no agent service", service.State{}, service.State{},
			nil, []string{"query agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeServices{states: map[service.Role]service.State{service.Agent: tt.agent, service.Watchdog: tt.wd}, fail: tt.fail}
			isService := mendWatchdog(t.Context(), f, spec, pid, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if want := tt.agent.PID == pid; isService != want {
				t.Errorf("mendWatchdog says this is the service: %v, want %v", isService, want)
			}
			if !slices.Equal(f.calls, tt.want) {
				t.Errorf("calls %q, want %q", f.calls, tt.want)
			}
		})
	}
}
