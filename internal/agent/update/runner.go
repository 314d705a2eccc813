package update

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// maxBusyWait bounds how long an offer keeps coming back to a busy server.
const maxBusyWait = 2 * time.Hour

// Runner is the agent's side of updates on the control connection: it
// takes offers (one at a time, on its own goroutine), names the pending
// update in the hello, and completes it on the welcome's confirmation.
type Runner struct {
	U *Updater
	// Report queues a status for the server; sent, if not nil, is called
	// once it went out (control.Client.ReportUpdate).
	Report func(s protocol.UpdateStatus, sent func())
	// Restart makes the agent exit with its restart code so that the
	// service manager starts the new binary.
	Restart func(reason string)
	// OnConfirmed, if set, runs after a confirmation (the agent restarts
	// its watchdog on the new binary there).
	OnConfirmed func()
	// Server returns the server the agent is connected to, where the
	// release is downloaded from.
	Server func() string
	// Window returns the policy's update window, read when an offer is
	// taken; nil means any time.
	Window func() protocol.UpdateWindow
	// WindowRecheck overrides how often a waiting update reads the window
	// again (windowRecheck); for tests.
	WindowRecheck time.Duration
	// Now is the clock the window is read with; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Rand picks the spread delay in [0, n); nil means math/rand/v2.
	Rand func(n int64) int64

	mu      sync.Mutex
	pending *protocol.PendingUpdate
	running bool
	offers  chan protocol.UpdateOffer
}

// Start settles the update state when the agent starts: an interrupted
// swap is finished or undone, the start of an unconfirmed new version is
// counted, and a rollback the watchdog made is queued for the server.
// Call it before the control client runs.
func (r *Runner) Start() error {
	r.offers = make(chan protocol.UpdateOffer, 1)
	r.U.Report = func(s protocol.UpdateStatus) { r.Report(s, nil) }
	pending, rolled, err := r.U.Started()
	if err != nil {
		return err
	}
	r.U.RemoveLeftovers()
	r.mu.Lock()
	r.pending = pending
	r.mu.Unlock()
	if pending != nil {
		r.Log.Info("running an update the server has not confirmed yet", "release_id", pending.ReleaseID,
			"from", pending.FromVersion, "to", pending.ToVersion)
	}
	if rolled != nil {
		r.Log.Warn("the watchdog rolled back an update", "to", rolled.ToVersion, "reason", rolled.Reason)
		id := rolled.ReleaseID
		r.Report(*rolled, func() {
			if err := r.U.RolledBackReported(id); err != nil {
				r.Log.Error("clear the reported rollback", "err", err)
			}
		})
	}
	return nil
}

// Pending implements control.Updates.
func (r *Runner) Pending() *protocol.PendingUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// Confirmed implements control.Updates.
func (r *Runner) Confirmed(_ context.Context, releaseID string) {
	r.mu.Lock()
	p := r.pending
	r.mu.Unlock()
	if p == nil || p.ReleaseID != releaseID {
		return
	}
	if err := r.U.Confirmed(releaseID); err != nil {
		r.Log.Error("complete the confirmed update", "release_id", releaseID, "err", err)
		return
	}
	r.mu.Lock()
	r.pending = nil
	r.mu.Unlock()
	r.Log.Info("update confirmed by the server", "release_id", releaseID, "version", p.ToVersion)
	if r.OnConfirmed != nil {
		r.OnConfirmed()
		// The watchdog ran the previous binary until now.
		r.U.RemoveLeftovers()
	}
}

// Offer implements control.Updates: a refusal is reported and returned at
// once; an accepted offer runs on Run's goroutine.
func (r *Runner) Offer(_ context.Context, offer protocol.UpdateOffer) error {
	st, err := LoadState(r.U.Dir)
	if err != nil {
		return err
	}
	if err := r.U.Check(offer, st); err != nil {
		var refused *Refused
		if errors.As(err, &refused) {
			r.U.report(protocol.UpdateStatus{ReleaseID: offer.ReleaseID, FromVersion: r.U.Version,
				ToVersion: offer.Release.Statement.Version, Step: protocol.UpdateRefused, Reason: refused.Reason})
		}
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return errors.New("an update is already in progress")
	}
	select {
	case r.offers <- offer:
		r.running = true
		return nil
	default:
		return errors.New("an update is already in progress")
	}
}

// Run applies accepted offers until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case offer := <-r.offers:
			restart := r.apply(ctx, offer)
			r.mu.Lock()
			r.running = false
			r.mu.Unlock()
			if restart {
				r.Restart(fmt.Sprintf("updated to %s", offer.Release.Statement.Version))
				return nil
			}
		}
	}
}

// apply runs one offer after its spread delay, coming back while the
// server is busy; it reports whether the agent must restart.
func (r *Runner) apply(ctx context.Context, offer protocol.UpdateOffer) bool {
	if spread := int64(offer.Spread); spread > 0 {
		if !sleep(ctx, time.Duration(r.rand(spread))) {
			return false
		}
	}
	if !r.awaitWindow(ctx, offer) {
		return false
	}
	deadline := time.Now().Add(maxBusyWait)
	for {
		if r.Server != nil {
			r.U.ServerURL = r.Server()
		}
		err := r.U.Apply(ctx, offer)
		var busy *Busy
		switch {
		case errors.Is(err, ErrRestart):
			return true
		case errors.As(err, new(*Cancelled)):
			r.Log.Info("update called back by the server", "release_id", offer.ReleaseID, "version", offer.Release.Statement.Version, "err", err)
			return false
		case errors.As(err, &busy) && time.Now().Before(deadline):
			wait := busy.Wait + time.Duration(r.rand(int64(busy.Wait)/2+1))
			r.Log.Info("the server is busy serving downloads; trying again", "release_id", offer.ReleaseID, "in", wait)
			if !sleep(ctx, wait) {
				return false
			}
		case err != nil:
			r.Log.Error("update failed", "release_id", offer.ReleaseID, "version", offer.Release.Statement.Version, "err", err)
			if errors.As(err, &busy) {
				// Dropped, not failed: the release is not at fault, and
				// the rollout offers a cancelled update again.
				r.U.report(protocol.UpdateStatus{ReleaseID: offer.ReleaseID, FromVersion: r.U.Version,
					ToVersion: offer.Release.Statement.Version, Step: protocol.UpdateCancelled,
					Reason: "download: the server stayed busy for " + maxBusyWait.String()})
			}
			return false
		default:
			return false
		}
	}
}

// windowRecheck is how often an update waiting for its window reads the
// window again: a policy that moves or removes it takes effect then.
const windowRecheck = time.Minute

// awaitWindow waits until the policy's update window is open, reporting
// once that the update waits, and which window it waits for; it reports
// whether the update may go on.
func (r *Runner) awaitWindow(ctx context.Context, offer protocol.UpdateOffer) bool {
	if r.Window == nil {
		return true
	}
	reported := ""
	for {
		now := time.Now()
		if r.Now != nil {
			now = r.Now()
		}
		w := r.Window()
		at := w.Next(now.Local())
		if !at.After(now) {
			return true
		}
		if why := fmt.Sprintf("waiting for the maintenance window %s (opens %s)", w, at.Format("Mon 2006-01-02 15:04 MST")); why != reported {
			r.Log.Info("update waits for its window", "version", offer.Release.Statement.Version, "window", w.String(), "at", at)
			r.U.report(protocol.UpdateStatus{ReleaseID: offer.ReleaseID, FromVersion: r.U.Version,
				ToVersion: offer.Release.Statement.Version, Step: protocol.UpdateWaiting, Reason: why})
			reported = why
		}
		if !sleep(ctx, min(at.Sub(now), r.recheck())) {
			return false
		}
	}
}

func (r *Runner) recheck() time.Duration {
	if r.WindowRecheck > 0 {
		return r.WindowRecheck
	}
	return windowRecheck
}

func (r *Runner) rand(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if r.Rand != nil {
		return r.Rand(n)
	}
	return rand.Int64N(n)
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
