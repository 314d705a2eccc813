package control

import (
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of the ledger.
const (
	// ledgerGrace keeps an entry past its command's deadline, against a
	// server clock behind this machine's, and keeps one without a deadline
	// this long after it finished.
	ledgerGrace = time.Hour
	// maxLedger bounds the entries; past it, delivered results are
	// forgotten first.
	maxLedger = 10000
)

// ledger remembers the commands this agent took, by command ID, for as
// long as the server may offer them again. The server offers a command
// again when it cannot know the agent has it: after a reconnect, after it
// crashed with the command sent but unanswered, or when a replica finds a
// command for this agent still queued. A command is run once: offered
// again while it runs, it is answered when it finishes; offered again
// after, its result is sent again. Results also outlive connections: one
// that finishes while the agent is disconnected, or whose sending failed,
// waits for the next connection. It lives as long as the Client (not
// across restarts of the process).
type ledger struct {
	mu      sync.Mutex
	entries map[string]*ledgerEntry
	// ready is signalled when a result waits to be sent.
	ready chan struct{}
}

type ledgerEntry struct {
	// keep is when the entry may be forgotten.
	keep time.Time
	// result is nil while the command runs.
	result *protocol.Result
	// unsent is set while the result waits to be written to a connection.
	unsent bool
}

func newLedger() *ledger {
	return &ledger{entries: map[string]*ledgerEntry{}, ready: make(chan struct{}, 1)}
}

// take records that cmd arrives. seen reports whether it arrived before;
// then res is its result to send again, or nil while it still runs.
func (l *ledger) take(cmd protocol.Command, now time.Time) (res *protocol.Result, seen bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[cmd.CommandID]; ok {
		if e.result == nil {
			return nil, true
		}
		r := *e.result
		return &r, true
	}
	l.prune(now)
	keep := now.Add(ledgerGrace)
	if !cmd.Deadline.IsZero() {
		keep = cmd.Deadline.Add(ledgerGrace)
	}
	l.entries[cmd.CommandID] = &ledgerEntry{keep: keep}
	return nil, false
}

// finish records a command's result; it waits in unsent until a
// connection takes it.
func (l *ledger) finish(res protocol.Result, now time.Time) {
	l.mu.Lock()
	e, ok := l.entries[res.CommandID]
	if !ok {
		e = &ledgerEntry{}
		l.entries[res.CommandID] = e
	}
	e.result, e.unsent = &res, true
	if k := now.Add(ledgerGrace); k.After(e.keep) {
		e.keep = k
	}
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// unsent returns the results waiting to be sent.
func (l *ledger) unsent() []protocol.Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []protocol.Result
	for _, e := range l.entries {
		if e.unsent {
			out = append(out, *e.result)
		}
	}
	return out
}

// sent records that a result was written to a connection. The server may
// still lose it (crash before storing): it then offers the command again
// and take returns the result.
func (l *ledger) sent(commandID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[commandID]; ok {
		e.unsent = false
	}
}

// prune forgets entries past keep and, over maxLedger, delivered results.
// Called with mu held.
func (l *ledger) prune(now time.Time) {
	for id, e := range l.entries {
		if now.After(e.keep) {
			delete(l.entries, id)
		}
	}
	for id, e := range l.entries {
		if len(l.entries) < maxLedger {
			break
		}
		if e.result != nil && !e.unsent {
			delete(l.entries, id)
		}
	}
}
