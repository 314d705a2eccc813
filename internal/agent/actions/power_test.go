package actions

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeExec records the actions carried out.
type fakeExec struct{ done chan string }

func (f fakeExec) Execute(_ context.Context, action string) error {
	f.done <- action
	return nil
}

// powerHost is a machine for Power: its boot time, and what it executes.
type powerHost struct {
	mu   sync.Mutex
	boot time.Time
	exec fakeExec
	path string
	seen []protocol.PowerState // what OnChange was told
}

func newPowerHost(t *testing.T) *powerHost {
	return &powerHost{boot: time.Now().Add(-time.Hour).Truncate(time.Second), exec: fakeExec{done: make(chan string, 4)},
		path: filepath.Join(t.TempDir(), "power.json")}
}

func (h *powerHost) power(t *testing.T) *Power {
	p := NewPower(t.Context(), PowerOptions{Path: h.path, Exec: h.exec, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Boot: func(context.Context) (time.Time, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.boot, nil
		},
		OnChange: func(s protocol.PowerState) {
			h.mu.Lock()
			h.seen = append(h.seen, s)
			h.mu.Unlock()
		}})
	p.grace = 0
	return p
}

// run runs p until the test ends.
func run(t *testing.T, p *Power) {
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func TestPowerReplaceAndCancel(t *testing.T) {
	h := newPowerHost(t)
	p := h.power(t)
	run(t, p)
	now := time.Now()
	at := now.Add(2 * time.Hour).UTC()
	steps := []struct {
		req  protocol.PowerRequest
		want protocol.PowerState
	}{
		{protocol.PowerRequest{Action: "reboot", Delay: protocol.Duration(time.Hour), Message: "patches", By: "alice"},
			protocol.PowerState{Action: "reboot", At: now.Add(time.Hour).UTC(), Message: "patches", By: "alice"}},
		{protocol.PowerRequest{Action: "shutdown", At: at, By: "bob"},
			protocol.PowerState{Action: "shutdown", At: at, By: "bob"}},
		{protocol.PowerRequest{Action: "cancel", By: "carol"}, protocol.PowerState{}},
	}
	for _, s := range steps {
		got, err := p.Request(t.Context(), s.req, now)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("after %+v (-want +got):\n%s", s.req, diff)
		}
		if diff := cmp.Diff(s.want, p.Pending()); diff != "" {
			t.Errorf("Pending after %+v (-want +got):\n%s", s.req, diff)
		}
	}
	if _, err := os.Stat(h.path); !os.IsNotExist(err) {
		t.Errorf("after cancel the pending file is still there (err %v)", err)
	}
	h.mu.Lock()
	if len(h.seen) != 3 {
		t.Errorf("OnChange told %d times, want 3", len(h.seen))
	}
	h.mu.Unlock()
	select {
	case a := <-h.exec.done:
		t.Fatalf("%s carried out after it was cancelled", a)
	default:
	}
}

func TestPowerFires(t *testing.T) {
	h := newPowerHost(t)
	p := h.power(t)
	run(t, p)
	if _, err := p.Request(t.Context(), protocol.PowerRequest{Action: "reboot", By: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := <-h.exec.done; got != "reboot" {
		t.Fatalf("carried out %s, want reboot", got)
	}
	if got := p.Pending(); got.Action != "" {
		t.Errorf("still pending after it ran: %+v", got)
	}
	if _, err := os.Stat(h.path); !os.IsNotExist(err) {
		t.Errorf("the pending file outlived the action (err %v)", err)
	}
}

func TestPowerRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rebooted bool
		due      bool
		want     string // what is pending after the restart
	}{
		{"agent restarted, not due", false, false, "shutdown"},
		{"agent restarted past the time", false, true, ""},
		{"machine rebooted since", true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newPowerHost(t)
			first := h.power(t)
			now := time.Now()
			at := now.Add(time.Hour)
			if tc.due {
				at = now.Add(-time.Minute)
			}
			if _, err := first.Request(t.Context(), protocol.PowerRequest{Action: "shutdown", At: at, By: "alice"}, now); err != nil {
				t.Fatal(err)
			}
			if tc.rebooted {
				h.mu.Lock()
				h.boot = now.Add(time.Minute)
				h.mu.Unlock()
			}
			second := h.power(t)
			if tc.due {
				if got := second.Pending().Action; got != "shutdown" {
					t.Fatalf("pending after restart: %q, want the shutdown that is due", got)
				}
				run(t, second)
				if got := <-h.exec.done; got != "shutdown" {
					t.Fatalf("carried out %s, want shutdown", got)
				}
			}
			if got := second.Pending().Action; got != tc.want {
				t.Errorf("pending %q, want %q", got, tc.want)
			}
			_, err := os.Stat(h.path)
			if kept := err == nil; kept != (tc.want != "") {
				t.Errorf("pending file kept %v, want %v", kept, tc.want != "")
			}
		})
	}
}

func TestPowerBadFile(t *testing.T) {
	h := newPowerHost(t)
	if err := os.WriteFile(h.path, []byte(`{"action":"explode"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := h.power(t).Pending(); got.Action != "" {
		t.Errorf("pending %+v from a bad file, want nothing", got)
	}
	if _, err := os.Stat(h.path); !os.IsNotExist(err) {
		t.Errorf("the bad file was kept (err %v)", err)
	}
}

func TestPowerLogExecutor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "power.log")
	e := NewExecutor(func(k string) string {
		if k == PowerLogEnv {
			return path
		}
		return ""
	})
	for _, a := range []string{protocol.PowerReboot, protocol.PowerShutdown} {
		if err := e.Execute(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(powerCommands(protocol.PowerReboot)[0], " ") + "\n" + strings.Join(powerCommands(protocol.PowerShutdown)[0], " ") + "\n"
	if string(b) != want {
		t.Errorf("power log %q, want %q", b, want)
	}
	if _, ok := NewExecutor(func(string) string { return "" }).(osExecutor); !ok {
		t.Errorf("without %s the executor is not the system's", PowerLogEnv)
	}
}
