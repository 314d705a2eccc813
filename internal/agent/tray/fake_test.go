package tray

import (
	"context"
	"encoding/json"
	"sync"
)

// fakeAgent is an Agent whose answers the test sets.
type fakeAgent struct {
	mu        sync.Mutex
	status    Status
	statusErr error
	tray      json.RawMessage
	trayErr   error
	helpErr   error
	helps     []string // messages received
	hellos    int
	helloErr  error
}

func (f *fakeAgent) Hello(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hellos++
	return f.helloErr
}

func (f *fakeAgent) helloCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hellos
}

func (f *fakeAgent) Status(context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.statusErr
}

func (f *fakeAgent) TrayConfig(context.Context) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tray, f.trayErr
}

func (f *fakeAgent) HelpRequest(_ context.Context, msg string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.helpErr != nil {
		return "", f.helpErr
	}
	f.helps = append(f.helps, msg)
	return "req-" + string(rune('0'+len(f.helps))), nil
}

func (f *fakeAgent) set(fn func(*fakeAgent)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeAgent) helpMessages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.helps...)
}
