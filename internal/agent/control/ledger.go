package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
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
	// maxLedgerFile bounds the file read back at start.
	maxLedgerFile = 16 << 20
)

// errRanBefore answers a command taken before the agent restarted whose
// result did not survive the restart: it is not run a second time.
const errRanBefore = "this agent took the command before it restarted and does not run it twice; its result was lost in the restart"

// ledger remembers the commands this agent took, by command ID, for as
// long as the server may offer them again. The server offers a command
// again when it cannot know the agent has it: after a reconnect, after it
// crashed with the command sent but unanswered, or when a replica finds a
// command for this agent still queued. A command is run once: offered
// again while it runs, it is answered when it finishes; offered again
// after, its result is sent again. Results also outlive connections: one
// that finishes while the agent is disconnected, or whose sending failed,
// waits for the next connection. With a file it outlives the process too:
// the IDs, and the results not yet sent, are written before a command
// runs and when it finishes.
type ledger struct {
	// path is the file the ledger is kept in; "" keeps it in memory.
	path string
	log  *slog.Logger

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
	// before is set for a command taken by an earlier run of the agent
	// whose result is not known.
	before bool
}

// newLedger returns a ledger kept in path ("" for memory only), with what
// an earlier run left there.
func newLedger(path string, log *slog.Logger) *ledger {
	l := &ledger{path: path, log: log, entries: map[string]*ledgerEntry{}, ready: make(chan struct{}, 1)}
	if path == "" {
		return l
	}
	if err := l.load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot read the commands taken before; a command offered again may run twice", "path", path, "err", err)
	}
	return l
}

// ledgerFile is the ledger on disk.
type ledgerFile struct {
	Commands []ledgerRecord `json:"commands"`
}

type ledgerRecord struct {
	ID   string    `json:"id"`
	Keep time.Time `json:"keep"`
	// Result is kept only while unsent.
	Result *protocol.Result `json:"result,omitempty"`
}

func (l *ledger) load() error {
	var lf ledgerFile
	if err := readJSONFile(l.path, maxLedgerFile, &lf); err != nil {
		return err
	}
	for _, r := range lf.Commands {
		e := &ledgerEntry{keep: r.Keep, before: r.Result == nil}
		if r.Result != nil {
			e.result, e.unsent = r.Result, true
		}
		l.entries[r.ID] = e
	}
	if len(lf.Commands) > 0 {
		select {
		case l.ready <- struct{}{}:
		default:
		}
	}
	return nil
}

// readJSONFile decodes the JSON file at path, of at most limit bytes, into
// v. A missing file yields an error matching fs.ErrNotExist.
func readJSONFile(path string, limit int, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > limit {
		return fmt.Errorf("read %s: larger than %d bytes", path, limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// save writes the ledger to its file. Called with mu held.
func (l *ledger) save() {
	if l.path == "" {
		return
	}
	lf := ledgerFile{Commands: make([]ledgerRecord, 0, len(l.entries))}
	for id, e := range l.entries {
		r := ledgerRecord{ID: id, Keep: e.keep}
		if e.unsent {
			r.Result = e.result
		}
		lf.Commands = append(lf.Commands, r)
	}
	b, err := json.Marshal(lf)
	if err == nil {
		err = config.WriteFile(l.path, b)
	}
	if err != nil {
		l.log.Warn("cannot record the commands taken; after a restart a command offered again may run twice", "path", l.path, "err", err)
	}
}

// take records that cmd arrives. seen reports whether it arrived before;
// then res is its result to send again, or nil while it still runs.
func (l *ledger) take(cmd protocol.Command, now time.Time) (res *protocol.Result, seen bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[cmd.CommandID]; ok {
		if e.before {
			return &protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: errRanBefore}, true
		}
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
	// On disk before it runs: a crash while it runs must not run it again.
	l.save()
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
	e.result, e.unsent, e.before = &res, true, false
	if k := now.Add(ledgerGrace); k.After(e.keep) {
		e.keep = k
	}
	l.save()
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
		if e.unsent && e.result != nil {
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
		if (e.result != nil && !e.unsent) || e.before {
			delete(l.entries, id)
		}
	}
}
