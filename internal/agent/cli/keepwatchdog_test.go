package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

func (f *fakeServices) AddRole(_ context.Context, s service.Spec, r service.Role) (service.Result, error) {
	f.calls = append(f.calls, "add "+string(r)+" "+s.Binary)
	return service.Result{Changes: []string{"registered"}}, f.fail
}

func TestMendWatchdog(t *testing.T) {
	const pid = 4242
	self := service.State{Installed: true, Running: true, PID: pid}
	spec := service.Spec{Binary: "/usr/local/bin/steward-agent", Config: filepath.Join(t.TempDir(), "agent.json")}
	marker := uninstallMarkerPath(spec.Config)
	tests := []struct {
		name   string
		agent  service.State
		wd     service.State
		fail   error
		marker time.Duration // > 0: an uninstall marker this old exists
		want   []string
	}{
		{"running as a service, watchdog fine", self, service.State{Installed: true, Running: true, PID: 7},
			nil, 0, []string{"query agent", "query watchdog"}},
		{"watchdog stopped", self, service.State{Installed: true},
			nil, 0, []string{"query agent", "query watchdog", "start watchdog"}},
		{"watchdog never registered: only its role is added", self, service.State{},
			nil, 0, []string{"query agent", "query watchdog", "add watchdog " + spec.Binary}},
		{"start fails: logged, no more", self, service.State{Installed: true},
			errors.New("access denied"), 0, []string{"query agent", "query watchdog", "start watchdog"}},
		{"run by hand: another process is the service", service.State{Installed: true, Running: true, PID: 1}, service.State{},
			nil, 0, []string{"query agent"}},
		{"no agent service", service.State{}, service.State{},
			nil, 0, []string{"query agent"}},
		{"uninstall running: watchdog missing, left alone", self, service.State{},
			nil, time.Minute, nil},
		{"uninstall running: watchdog stopped, left alone", self, service.State{Installed: true},
			nil, time.Second, nil},
		{"stale marker of a crashed uninstall: ignored", self, service.State{Installed: true},
			nil, uninstallMarkerStale + time.Minute, []string{"query agent", "query watchdog", "start watchdog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(marker)
			if tt.marker > 0 {
				if err := os.WriteFile(marker, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				old := time.Now().Add(-tt.marker)
				if err := os.Chtimes(marker, old, old); err != nil {
					t.Fatal(err)
				}
			}
			f := &fakeServices{states: map[service.Role]service.State{service.Agent: tt.agent, service.Watchdog: tt.wd}, fail: tt.fail}
			isService := mendWatchdog(t.Context(), f, spec, pid, slog.New(slog.NewTextHandler(io.Discard, nil)))
			uninstallRunning := tt.marker > 0 && tt.marker < uninstallMarkerStale
			if want := tt.agent.PID == pid && !uninstallRunning; isService != want {
				t.Errorf("mendWatchdog says this is the service: %v, want %v", isService, want)
			}
			if !slices.Equal(f.calls, tt.want) {
				t.Errorf("calls %q, want %q", f.calls, tt.want)
			}
		})
	}
}
