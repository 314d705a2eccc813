package sim

import (
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of a simulated agent's ledger.
const (
	// ledgerGrace keeps an entry past its command's deadline (against a
	// server clock behind ours), or this long after it was taken when the
	// command has no deadline.
	ledgerGrace = time.Hour
	// maxLedger bounds one agent's entries; past it the oldest are
	// forgotten. A simulator runs thousands of agents in one process.
	maxLedger = 64
)

// ledger remembers the commands a simulated agent took, by command ID, as
// the real agent's ledger does (internal/agent/control/ledger.go): the
// server offers a command again when it cannot know the agent has it
// (after a reconnect, or a replica finding it still open), and the agent
// never runs it twice. Offered again while it runs, it is answered once,
// when it finishes; offered again after, its result is sent again. Unlike
// the real agent's it lives in memory only: simulated agents do not
// restart. Safe for the agent's reader and its inventory goroutine.
type ledger struct {
	mu      sync.Mutex
	entries map[string]*ledgerEntry // nil until the first command
	order   []string                // IDs, oldest first
}

type ledgerEntry struct {
	keep   time.Time
	result *protocol.Result // nil while the command runs
}

// take records cmd as taken at now. When it was taken before, seen is
// true and result is its result, or nil while it still runs.
func (l *ledger) take(cmd protocol.Command, now time.Time) (result *protocol.Result, seen bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forget(now)
	if e, ok := l.entries[cmd.CommandID]; ok {
		return e.result, true
	}
	if l.entries == nil {
		l.entries = map[string]*ledgerEntry{}
	}
	keep := now.Add(ledgerGrace)
	if !cmd.Deadline.IsZero() {
		keep = cmd.Deadline.Add(ledgerGrace)
	}
	l.entries[cmd.CommandID] = &ledgerEntry{keep: keep}
	l.order = append(l.order, cmd.CommandID)
	return nil, false
}

// finish records the result of a command taken before.
func (l *ledger) finish(res protocol.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[res.CommandID]; ok {
		e.result = &res
	}
}

// forget drops the oldest entries while they are past their keep time or
// the ledger is full. The caller holds mu.
func (l *ledger) forget(now time.Time) {
	for len(l.order) > 0 {
		id := l.order[0]
		if len(l.order) < maxLedger && !now.After(l.entries[id].keep) {
			return
		}
		delete(l.entries, id)
		l.order = l.order[1:]
	}
}
