package cli

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of the trays the agent keeps: one local account cannot fill the
// set (sessions are the tray's word), and the set fits in the facts.
const (
	maxTraysPerAccount = 8
	// Changes per account (a new tray, another version): trayChangeBurst at
	// once, then one each trayChangeEvery. A tray changes once at login
	// and once per update; each change sends the facts to the server.
	trayChangeBurst = 4
	trayChangeEvery = 30 * time.Second
)

// trayKey names one tray: an account (from the OS) in a session.
type trayKey struct{ account, session string }

type trayEntry struct {
	info protocol.TrayInfo
	pid  int
	seen time.Time
}

// trayRegistry is the set of trays that said hello (ipc.MethodTrayHello),
// reported in the facts. A tray is forgotten when it has not said hello
// for ipc.TrayStale or its process is gone.
type trayRegistry struct {
	// alive reports whether a process exists (pidAlive); tests replace it.
	alive func(pid int) bool
	limit *ipc.Limiter

	mu    sync.Mutex
	trays map[trayKey]trayEntry
}

func newTrayRegistry() *trayRegistry {
	return &trayRegistry{
		alive: func(pid int) bool { return pidAlive(context.Background(), pid) },
		limit: &ipc.Limiter{Burst: trayChangeBurst, Every: trayChangeEvery},
		trays: map[trayKey]trayEntry{},
	}
}

// hello records a tray's hello at now and reports whether the trays as
// the server sees them changed. The account and, where the OS tells, the
// process come from the connection.
func (r *trayRegistry) hello(caller ipc.Caller, args ipc.TrayHelloArgs, now time.Time) (changed bool, err error) {
	info := protocol.TrayInfo{User: caller.User, Session: args.Session, Version: strings.TrimPrefix(args.Version, "v")}
	if err := info.Validate(); err != nil {
		// The facts would be refused, and the connection with them.
		return false, ipc.Errorf(ipc.CodeBadRequest, "%v", err)
	}
	pid := caller.PID
	if pid == 0 {
		pid = args.PID
	}
	key := trayKey{account: caller.Key(), session: args.Session}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	old, known := r.trays[key]
	if !known || old.info != info {
		if !known && r.count(key.account) >= maxTraysPerAccount {
			return false, ipc.Errorf(ipc.CodeBusy, "this account already has %d trays", maxTraysPerAccount)
		}
		if !known && len(r.trays) >= protocol.MaxTrays {
			return false, ipc.Errorf(ipc.CodeBusy, "the agent already knows %d trays", protocol.MaxTrays)
		}
		if ok, wait := r.limit.Take(key.account, now); !ok {
			return false, ipc.Errorf(ipc.CodeRateLimited, "too many tray changes from this account; try again in %s", wait.Round(time.Second))
		}
		changed = true
	}
	r.trays[key] = trayEntry{info: info, pid: pid, seen: now}
	return changed, nil
}

// list returns the live trays at now, in a stable order.
func (r *trayRegistry) list(now time.Time) []protocol.TrayInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	if len(r.trays) == 0 {
		return nil
	}
	out := make([]protocol.TrayInfo, 0, len(r.trays))
	for _, e := range r.trays {
		out = append(out, e.info)
	}
	slices.SortFunc(out, func(a, b protocol.TrayInfo) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Session, b.Session))
	})
	return out
}

// prune forgets the trays that stopped saying hello or whose process is
// gone. r.mu is held.
func (r *trayRegistry) prune(now time.Time) {
	for k, e := range r.trays {
		if now.Sub(e.seen) > ipc.TrayStale || (e.pid > 0 && !r.alive(e.pid)) {
			delete(r.trays, k)
		}
	}
}

// count is how many trays account has. r.mu is held.
func (r *trayRegistry) count(account string) int {
	n := 0
	for k := range r.trays {
		if k.account == account {
			n++
		}
	}
	return n
}
