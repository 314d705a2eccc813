package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of the quick actions running at once.
const (
	// maxActionsRunning actions run at once; the others wait their turn.
	maxActionsRunning = 4
	// maxActionsWaiting bounds the actions waiting; more are refused.
	maxActionsWaiting = 64
)

// Actions runs the quick actions (an actions.Runner).
type Actions interface {
	// Timeout bounds the action name; ok is false when name is not a
	// quick action this agent runs.
	Timeout(name string) (d time.Duration, ok bool)
	// Run runs the action and returns its encoded output.
	Run(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)
}

// errAgentStopped ends the actions running when the client stops.
var errAgentStopped = errors.New("the agent stopped")

// actionWorker runs quick actions off the control loop, maxActionsRunning
// at once, on goroutines its run owns; results go to the ledger.
type actionWorker struct {
	actions Actions
	log     *slog.Logger
	finish  func(protocol.Result)
	jobs    chan protocol.Command
}

func newActionWorker(c *Client) *actionWorker {
	return &actionWorker{actions: c.opts.Actions, log: c.opts.Log, finish: c.finish,
		jobs: make(chan protocol.Command, maxActionsWaiting)}
}

// handles says whether cmd is a quick action.
func (w *actionWorker) handles(cmd protocol.Command) bool {
	_, ok := w.actions.Timeout(cmd.Name)
	return ok
}

// start queues a quick action; the result is for one refused at once.
func (w *actionWorker) start(cmd protocol.Command) (protocol.Result, bool) {
	select {
	case w.jobs <- cmd:
		return protocol.Result{}, true
	default:
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError,
			Error: fmt.Sprintf("%d quick actions are waiting on this agent already; try again later", maxActionsWaiting)}, false
	}
}

// run runs the queued actions until ctx ends; then it stops the running
// ones, answers the waiting ones as not run, and returns once all ended.
func (w *actionWorker) run(ctx context.Context) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxActionsRunning)
	defer func() {
		wg.Wait()
		for {
			select {
			case cmd := <-w.jobs:
				w.finish(notRun(cmd))
			default:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case cmd := <-w.jobs:
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				w.finish(notRun(cmd))
				return
			}
			wg.Go(func() {
				defer func() { <-slots }()
				w.finish(w.exec(ctx, cmd))
			})
		}
	}
}

func notRun(cmd protocol.Command) protocol.Result {
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError,
		Error: "the agent stopped before the action started; it was not run"}
}

// exec runs one action within its bound and the command's deadline.
func (w *actionWorker) exec(ctx context.Context, cmd protocol.Command) protocol.Result {
	fail := func(msg string) protocol.Result {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: msg}
	}
	if !cmd.Deadline.IsZero() && time.Now().After(cmd.Deadline) {
		return fail("the command's deadline passed before the action could start; it was not run")
	}
	bound, _ := w.actions.Timeout(cmd.Name)
	actx, cancel := context.WithTimeoutCause(ctx, bound, fmt.Errorf("the action took longer than %v", bound))
	defer cancel()
	if !cmd.Deadline.IsZero() {
		var cancelDeadline context.CancelFunc
		actx, cancelDeadline = context.WithDeadlineCause(actx, cmd.Deadline, errors.New("the command's deadline passed"))
		defer cancelDeadline()
	}
	start := time.Now()
	out, err := w.actions.Run(actx, cmd.Name, cmd.Args)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errAgentStopped, err)
		}
		w.log.WarnContext(ctx, "quick action failed", "command_id", cmd.CommandID, "name", cmd.Name, "err", err)
		return fail(err.Error())
	}
	w.log.InfoContext(ctx, "quick action done", "command_id", cmd.CommandID, "name", cmd.Name, "duration", time.Since(start))
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out}
}
