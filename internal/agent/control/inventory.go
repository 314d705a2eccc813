package control

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/inventory"
	"github.com/steward-rmm/steward/internal/protocol"
)

// PolicySource is where the client reads the effective policy for what it
// schedules itself (the inventory interval); a settings.Store.
type PolicySource interface {
	Current() config.Policy
	Changed() <-chan struct{}
}

// Defaults for the inventory tunables in Options.
const (
	DefaultMinInventoryInterval = time.Minute
	// collectTimeout bounds one collection, against a hung source.
	collectTimeout = 5 * time.Minute
	// maxInventoryWaiting bounds the inventory commands waiting for the
	// next report; more are refused at once.
	maxInventoryWaiting = 64
)

// inventoryRequest is a CommandInventory waiting for the next report; its
// result goes to the ledger, from which whichever connection is up then
// sends it.
type inventoryRequest struct {
	cmd protocol.Command
}

// inventoryWorker collects and uploads inventory reports on its own
// goroutine, so the control loop never waits for it: once after the
// process's first connection, then every inventory.interval of the live
// policy, and whenever the server asks. One report at a time: commands that
// arrive while one runs are answered together by the next report, which
// starts right after.
type inventoryWorker struct {
	collect  func(ctx context.Context, reason string) protocol.Inventory
	policy   PolicySource // nil: inventory.DefaultInterval
	minEvery time.Duration
	uploader inventory.Uploader
	log      *slog.Logger
	after    func() // Options.AfterInventory; may be nil
	// finish records a command's result.
	finish func(protocol.Result)

	mu       sync.Mutex
	server   string // base URL of the server last connected to
	startDue bool   // the first connection happened; the start report is owed
	started  bool   // startDue was set once in this process
	waiting  []inventoryRequest
	wake     chan struct{} // capacity 1: work may be due
	// preempt, while a start or scheduled report runs, cancels it: a
	// technician's request must not wait behind its retries (a busy
	// server may ask for minutes between them). The requested report
	// replaces it.
	preempt context.CancelFunc
}

func newInventoryWorker(c *Client) *inventoryWorker {
	o := c.opts
	return &inventoryWorker{
		collect:  o.Inventory,
		policy:   o.Policy,
		minEvery: o.MinInventoryInterval,
		uploader: inventory.Uploader{
			Client:  o.HTTPClient,
			Auth:    c.auth,
			Backoff: backoff.Backoff{Base: o.BackoffBase, Cap: o.BackoffCap, Rand: o.Rand},
			Log:     o.Log,
		},
		log:    o.Log,
		after:  o.AfterInventory,
		wake:   make(chan struct{}, 1),
		finish: c.finish,
	}
}

func (w *inventoryWorker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// connected records the server a session was welcomed by: uploads go
// there. The first call owes the start report.
func (w *inventoryWorker) connected(server string) {
	w.mu.Lock()
	w.server = server
	if !w.started {
		w.started, w.startDue = true, true
	}
	w.mu.Unlock()
	w.signal()
}

func (w *inventoryWorker) target() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.server
}

// request queues a command for the next report. It never blocks; it
// reports false when too many are waiting already.
func (w *inventoryWorker) request(r inventoryRequest) bool {
	w.mu.Lock()
	if len(w.waiting) >= maxInventoryWaiting {
		w.mu.Unlock()
		return false
	}
	w.waiting = append(w.waiting, r)
	if w.preempt != nil {
		w.preempt()
	}
	w.mu.Unlock()
	w.signal()
	return true
}

// pending reports whether commands wait for a report.
func (w *inventoryWorker) pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting) > 0
}

// interval is the policy's inventory interval, floored against a busy
// loop.
func (w *inventoryWorker) interval() time.Duration {
	d := inventory.DefaultInterval
	if w.policy != nil {
		d = inventory.ParseInterval(w.policy.Current().Policy)
	}
	return max(d, w.minEvery)
}

// run reports until ctx ends.
func (w *inventoryWorker) run(ctx context.Context) {
	var changed <-chan struct{}
	if w.policy != nil {
		changed = w.policy.Changed()
	}
	every := w.interval()
	timer := time.NewTimer(every)
	timer.Stop() // armed after the first report
	defer timer.Stop()
	var lastReport time.Time
	scheduleDue := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-changed:
			changed = w.policy.Changed()
			if next := w.interval(); next != every {
				every = next
				w.log.InfoContext(ctx, "inventory interval changed", "interval", every)
				if !lastReport.IsZero() {
					timer.Reset(max(time.Until(lastReport.Add(every)), 0))
				}
			}
			continue
		case <-timer.C:
			scheduleDue = true
		}

		w.mu.Lock()
		reqs := w.waiting
		w.waiting = nil
		startDue := w.startDue
		w.mu.Unlock()
		reason := ""
		switch {
		case len(reqs) > 0:
			reason = protocol.InventoryRequest
		case startDue:
			reason = protocol.InventoryStart
		case scheduleDue:
			reason = protocol.InventorySchedule
		default:
			continue
		}

		n, err := w.report(ctx, reason, reqs)
		if w.after != nil {
			w.after()
		}
		if ctx.Err() != nil && len(reqs) == 0 {
			return
		}
		if err != nil && len(reqs) == 0 && w.pending() {
			w.log.InfoContext(ctx, "inventory report gave way to a requested one", "reason", reason)
		}
		for _, r := range reqs {
			w.answer(ctx, r, n, err)
		}
		// A report of any reason counts: the next is due an interval
		// after it. A refused one is not tried again before then either.
		w.mu.Lock()
		w.startDue = false
		if len(w.waiting) > 0 {
			w.signal() // asked while this one ran: starts right after
		}
		w.mu.Unlock()
		scheduleDue = false
		lastReport = time.Now()
		timer.Reset(every)
	}
}

// report collects and uploads one report and returns how many software
// entries it held. For commands, the upload gives up at the latest of
// their deadlines; otherwise it retries until ctx ends.
func (w *inventoryWorker) report(ctx context.Context, reason string, reqs []inventoryRequest) (int, error) {
	if deadline, ok := latestDeadline(reqs); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, collectTimeout)
	inv := w.collect(cctx, reason)
	cancel()
	took := time.Since(start)
	body, err := protocol.EncodeInventory(inv)
	if err != nil {
		w.log.ErrorContext(ctx, "cannot encode inventory", "reason", reason, "err", err)
		return 0, err
	}
	if len(reqs) == 0 {
		// Only the upload gives way: collection is short and bounded, its
		// retries are not.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		w.mu.Lock()
		w.preempt = cancel
		if len(w.waiting) > 0 {
			cancel() // asked for while collecting
		}
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			w.preempt = nil
			w.mu.Unlock()
			cancel()
		}()
	}
	if err := w.uploader.Upload(ctx, w.target, body); err != nil {
		if ctx.Err() == nil || len(reqs) > 0 {
			w.log.ErrorContext(ctx, "inventory upload failed", "reason", reason, "err", err)
		}
		return 0, err
	}
	w.log.InfoContext(ctx, "inventory uploaded", "reason", reason, "software", len(inv.Software),
		"errors", len(inv.Errors), "bytes", len(body), "collect_time", took.Round(time.Millisecond))
	return len(inv.Software), nil
}

// latestDeadline is the latest deadline of reqs; ok is false when there are
// none or one command has no deadline.
func latestDeadline(reqs []inventoryRequest) (time.Time, bool) {
	var latest time.Time
	for _, r := range reqs {
		if r.cmd.Deadline.IsZero() {
			return time.Time{}, false
		}
		if r.cmd.Deadline.After(latest) {
			latest = r.cmd.Deadline
		}
	}
	return latest, !latest.IsZero()
}

// answer records a command's result for the connection to send.
func (w *inventoryWorker) answer(ctx context.Context, r inventoryRequest, software int, err error) {
	res := protocol.Result{CommandID: r.cmd.CommandID, Status: protocol.ResultOK}
	if err != nil {
		res.Status, res.Error = protocol.ResultError, truncateError(err)
	} else {
		res.Output, _ = json.Marshal(protocol.InventoryOutput{Software: software})
	}
	w.finish(res)
}

// truncateError fits an error into a result (the protocol bounds it).
func truncateError(err error) string {
	s := err.Error()
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	return s
}

// command queues an inventory command; queued is false, with the result,
// when too many are waiting already.
func (w *inventoryWorker) command(cmd protocol.Command) (res protocol.Result, queued bool) {
	if w.request(inventoryRequest{cmd: cmd}) {
		return protocol.Result{}, true
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError,
		Error: "too many inventory requests are waiting; try again later"}, false
}
