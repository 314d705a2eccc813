package tray

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestHello: the tray says hello at the agent's first answer, then every
// helloEvery, and at once when the agent restarted (another PID) or
// answers again after it could not be asked.
func TestHello(t *testing.T) {
	agent := &fakeAgent{status: Status{Connected: true, AgentPID: 100}, tray: json.RawMessage(`{}`)}
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	u := &UI{Agent: agent, Log: slog.New(slog.DiscardHandler), cfg: DefaultConfig(), now: func() time.Time { return now }}
	steps := []struct {
		what    string
		advance time.Duration
		set     func(*fakeAgent)
		want    int // hellos so far
	}{
		{what: "first answer", want: 1},
		{what: "a poll later", advance: 5 * time.Second, want: 1},
		{what: "just before it is due", advance: helloEvery - 6*time.Second, want: 1},
		{what: "due", advance: 2 * time.Second, want: 2},
		{what: "the agent restarted", advance: time.Second, set: func(a *fakeAgent) { a.status.AgentPID = 101 }, want: 3},
		{what: "the agent cannot be asked", advance: time.Second, set: func(a *fakeAgent) { a.statusErr = errors.New("dial: refused") }, want: 3},
		{what: "the agent answers again", advance: time.Second, set: func(a *fakeAgent) { a.statusErr = nil }, want: 4},
		{what: "a failed hello waits for its turn", advance: time.Second, set: func(a *fakeAgent) { a.status.AgentPID, a.helloErr = 102, errors.New("busy") }, want: 5},
		{what: "and is not repeated at once", advance: 5 * time.Second, want: 5},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.set != nil {
			agent.set(s.set)
		}
		u.poll(t.Context())
		if got := agent.helloCount(); got != s.want {
			t.Fatalf("%s: %d hellos, want %d", s.what, got, s.want)
		}
	}
}
