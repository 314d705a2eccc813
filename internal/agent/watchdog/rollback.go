package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Updates is the update state the watchdog watches (an update.Updater):
// it restores the previous agent binary when an update is not confirmed
// in time or the new version cannot stay up. The watchdog does this, not
// the agent, because a new version that fails at start cannot.
type Updates interface {
	RollbackDue(now time.Time) (reason string, due bool)
	Rollback(reason string) error
	// Swapped reports whether a new binary is in place unconfirmed.
	Swapped() bool
	// Repair puts a binary back at the installed path when a crash in the
	// middle of a swap or a rollback left it empty, and says what it did
	// ("" when the binary is there).
	Repair() (string, error)
}

// MaxFailuresUnconfirmed is how often the agent may stop or fail to start
// on an unconfirmed new binary (besides the exit that starts it) before
// the watchdog rolls it back: the
// watchdog counts these itself, since a binary that cannot start cannot
// count its own starts.
const MaxFailuresUnconfirmed = 3

// DefaultRollbackCheck is how often the watchdog looks at a pending
// update.
const DefaultRollbackCheck = 10 * time.Second

// RollbackWatch rolls back a failed update and restarts the agent on the
// previous binary.
type RollbackWatch struct {
	Updates Updates
	Every   time.Duration
	// RestartAgent stops the agent (killing it if it must) and starts it
	// again.
	RestartAgent func(ctx context.Context) error
	Log          *slog.Logger
	Now          func() time.Time

	mu       sync.Mutex
	failures int // agent failures seen while an update is unconfirmed

	// files serializes what moves the binary (Repair, Rollback): both the
	// agent's starts and the periodic check may want to.
	files sync.Mutex
}

// Repair makes sure there is a binary to start the agent from: a kill in
// the middle of a swap on Windows leaves the installed path empty until
// someone puts the backup back, and an agent with no binary cannot. Called
// before every start of the agent; a failure is logged and the start goes
// ahead (it fails and is retried with backoff).
func (w *RollbackWatch) Repair() {
	w.files.Lock()
	defer w.files.Unlock()
	w.repair()
}

func (w *RollbackWatch) repair() {
	did, err := w.Updates.Repair()
	switch {
	case err != nil:
		w.Log.Error("the agent binary is missing and cannot be restored", "err", err)
	case did != "":
		w.Log.Warn("restored the agent binary before starting it", "what", did)
	}
}

// AgentFailed counts a stop or failed start of the agent.
func (w *RollbackWatch) AgentFailed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures++
}

// Run checks until ctx is done.
func (w *RollbackWatch) Run(ctx context.Context) {
	every := w.Every
	if every <= 0 {
		every = DefaultRollbackCheck
	}
	for {
		w.Check(ctx)
		if !sleep(ctx, every) {
			return
		}
	}
}

// Check rolls back now if an update is due for it.
func (w *RollbackWatch) Check(ctx context.Context) {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	if !w.rollback(now) {
		return
	}
	if err := w.RestartAgent(ctx); err != nil {
		w.Log.Error("restart the agent on the previous binary", "err", err)
		return
	}
	w.Log.Info("agent restarted on the previous binary")
}

// rollback rolls back if an update is due for it, and says whether it did.
func (w *RollbackWatch) rollback(now time.Time) bool {
	w.files.Lock()
	defer w.files.Unlock()
	// An interrupted swap is settled here, not rolled back: there is no
	// agent to restart, the next start finds the binary in place.
	w.repair()
	reason, due := w.Updates.RollbackDue(now)
	w.mu.Lock()
	if !w.Updates.Swapped() {
		w.failures = 0 // failures of a confirmed or settled version do not count
	} else if !due && w.failures > MaxFailuresUnconfirmed {
		// One more than the limit: the agent's own exit to restart on the
		// new binary counts as the first.
		reason, due = fmt.Sprintf("the new version stopped or failed to start %d times without being confirmed", w.failures), true
	}
	if due {
		w.failures = 0
	}
	w.mu.Unlock()
	if !due {
		return false
	}
	w.Log.Warn("rolling back the agent update", "reason", reason)
	if err := w.Updates.Rollback(reason); err != nil {
		w.Log.Error("roll back the agent update", "err", err)
		return false
	}
	return true
}
