package control

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/script"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of script runs.
const (
	// maxScriptsRunning scripts run at once; the others wait their turn.
	maxScriptsRunning = 4
	// maxScriptsWaiting bounds the runs waiting; more are refused at once.
	maxScriptsWaiting = 256
	// maxLiveBytes bounds the live output waiting for the connection;
	// past it chunks are dropped (the server asks for them again).
	maxLiveBytes = 1 << 20
	// inlineGrace is how long a run's start and output are held back: a
	// run that ends by then with at most protocol.MaxInlineOutput bytes
	// of each stream sends only its result, with the output inline.
	inlineGrace = 250 * time.Millisecond
)

// Scripts runs script runs (a script.Runner).
type Scripts interface {
	Run(ctx context.Context, id string, s protocol.ScriptRun, ev script.Events) (protocol.ScriptResult, error)
	// Output sends a run's kept output from offset.
	Output(id, stream string, offset int64, send func(protocol.ScriptOutput) error) error
}

// scriptJob is a CommandScript waiting for its turn.
type scriptJob struct {
	cmd protocol.Command
	run protocol.ScriptRun
}

// scriptWorker runs the CommandScript commands, maxScriptsRunning at
// once, on goroutines its run owns. Results go to the ledger, so they
// outlive the connection they were asked on; the start and the output go
// live to whatever connection is up (see liveOutbox).
type scriptWorker struct {
	scripts Scripts
	log     *slog.Logger
	finish  func(protocol.Result)
	live    *liveOutbox
	// policy gives the output cap of runs whose job sets none; nil: the
	// protocol's default.
	policy PolicySource

	mu      sync.Mutex
	waiting []scriptJob
	running map[string]context.CancelCauseFunc
	wake    chan struct{}
}

func newScriptWorker(c *Client) *scriptWorker {
	return &scriptWorker{
		scripts: c.opts.Scripts, log: c.opts.Log, finish: c.finish, live: c.live, policy: c.opts.Policy,
		running: map[string]context.CancelCauseFunc{}, wake: make(chan struct{}, 1),
	}
}

func (w *scriptWorker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run starts waiting runs as slots free up until ctx ends; then it kills
// the running ones (their results say the agent stopped), answers the
// waiting ones as not run, and returns once every run has ended.
func (w *scriptWorker) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		w.mu.Lock()
		left := w.waiting
		w.waiting = nil
		w.mu.Unlock()
		for _, j := range left {
			w.finish(protocol.Result{CommandID: j.cmd.CommandID, Status: protocol.ResultError,
				Error: "the agent stopped before the script started; it was not run"})
		}
	}()
	for {
		w.mu.Lock()
		for len(w.running) < maxScriptsRunning && len(w.waiting) > 0 {
			j := w.waiting[0]
			w.waiting = w.waiting[1:]
			rctx, cancel := context.WithCancelCause(ctx)
			w.running[j.cmd.CommandID] = cancel
			wg.Go(func() {
				res := w.exec(rctx, j)
				cancel(nil)
				// No longer killable once its result is out.
				w.mu.Lock()
				delete(w.running, j.cmd.CommandID)
				w.mu.Unlock()
				w.finish(res)
				w.signal()
			})
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
	}
}

// exec runs one script and returns its result.
func (w *scriptWorker) exec(ctx context.Context, j scriptJob) protocol.Result {
	id := j.cmd.CommandID
	if !j.cmd.Deadline.IsZero() && time.Now().After(j.cmd.Deadline) {
		return protocol.Result{CommandID: id, Status: protocol.ResultError,
			Error: "the command's deadline passed before the script could start; it was not run"}
	}
	hold := newHoldback(w.live, inlineGrace)
	ev := script.Events{
		Started: func(at time.Time) {
			hold.push(liveMessage{typ: protocol.TypeScriptStarted, payload: protocol.ScriptStarted{CommandID: id, StartedAt: at}}, "", nil)
		},
		Output: func(o protocol.ScriptOutput) {
			hold.push(liveMessage{typ: protocol.TypeScriptOutput, payload: o, size: len(o.Data)}, o.Stream, o.Data)
		},
	}
	res, err := w.scripts.Run(ctx, id, j.run, ev)
	if err != nil {
		hold.release()
		w.log.WarnContext(ctx, "script did not start", "command_id", id, "language", j.run.Language, "err", err)
		return protocol.Result{CommandID: id, Status: protocol.ResultError, Error: err.Error()}
	}
	hold.finish(&res)
	w.log.InfoContext(ctx, "script ran", "command_id", id, "language", j.run.Language, "status", res.Status,
		"exit_code", res.ExitCode, "duration", res.FinishedAt.Sub(res.StartedAt))
	return scriptResult(id, res)
}

func scriptResult(id string, res protocol.ScriptResult) protocol.Result {
	out, err := json.Marshal(res)
	if err != nil {
		return protocol.Result{CommandID: id, Status: protocol.ResultError, Error: fmt.Sprintf("encode script result: %v", err)}
	}
	return protocol.Result{CommandID: id, Status: protocol.ResultOK, Output: out}
}

// start queues a CommandScript; the result is for a command refused at
// once.
func (w *scriptWorker) start(cmd protocol.Command) (protocol.Result, bool) {
	run, err := protocol.DecodeScriptRun(cmd.Args)
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}, false
	}
	if run.MaxOutput == 0 && w.policy != nil {
		run.MaxOutput = policyOutputCap(w.policy.Current().Policy)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.waiting) >= maxScriptsWaiting {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError,
			Error: fmt.Sprintf("%d scripts are waiting to run on this agent already; try again later", len(w.waiting))}, false
	}
	w.waiting = append(w.waiting, scriptJob{cmd: cmd, run: run})
	w.signal()
	return protocol.Result{}, true
}

// kill answers a CommandScriptKill: a running script is killed with its
// process tree (its own result follows when it has ended), a waiting one
// is not started.
func (w *scriptWorker) kill(cmd protocol.Command) protocol.Result {
	k, err := protocol.DecodeScriptKill(cmd.Args)
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	w.mu.Lock()
	cancel, running := w.running[k.CommandID]
	i := slices.IndexFunc(w.waiting, func(j scriptJob) bool { return j.cmd.CommandID == k.CommandID })
	if i >= 0 {
		w.waiting = slices.Delete(w.waiting, i, i+1)
	}
	w.mu.Unlock()
	switch {
	case running:
		cancel(script.ErrKilled)
	case i >= 0:
		now := time.Now().UTC()
		w.finish(scriptResult(k.CommandID, protocol.ScriptResult{Status: protocol.ScriptKilled, ExitCode: -1,
			StartedAt: now, FinishedAt: now, Error: "killed before it started; it was not run"}))
	default:
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError,
			Error: "no script run " + k.CommandID + " is running or waiting on this agent"}
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK}
}

// output answers a CommandScriptOutput: the kept output from the offset,
// sent on this connection before the result.
func (w *scriptWorker) output(cmd protocol.Command, send func(typ string, payload any) error) protocol.Result {
	req, err := protocol.DecodeScriptOutputRequest(cmd.Args)
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	err = w.scripts.Output(req.CommandID, req.Stream, req.Offset, func(o protocol.ScriptOutput) error {
		return send(protocol.TypeScriptOutput, o)
	})
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK}
}

// policyOutputCap reads scripts.max_output from the effective policy: the
// cap of each stream of a run whose job sets none; 0 (the protocol's
// default) when the policy has none or a bad one.
func policyOutputCap(doc json.RawMessage) int64 {
	var p struct {
		Scripts struct {
			MaxOutput int64 `json:"max_output"`
		} `json:"scripts"`
	}
	if json.Unmarshal(doc, &p) != nil || p.Scripts.MaxOutput <= 0 || p.Scripts.MaxOutput > protocol.MaxScriptOutput {
		return 0
	}
	return p.Scripts.MaxOutput
}

// holdback keeps a run's live messages back for a moment, so that a run
// that ends within it sends one message (its result, output inline)
// instead of three; a run that goes on, or writes more than fits inline,
// has what was held sent live and streams from then on.
type holdback struct {
	live  *liveOutbox
	timer *time.Timer

	mu       sync.Mutex
	released bool
	held     []liveMessage
	data     map[string][]byte // by stream
}

func newHoldback(live *liveOutbox, grace time.Duration) *holdback {
	h := &holdback{live: live, data: map[string][]byte{}}
	h.timer = time.AfterFunc(grace, h.release)
	return h
}

// push holds m, or sends it live once released; data is the output m
// carries of stream ("" for none).
func (h *holdback) push(m liveMessage, stream string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		h.live.push(m.typ, m.payload, m.size)
		return
	}
	h.held = append(h.held, m)
	if stream != "" {
		h.data[stream] = append(h.data[stream], data...)
		if len(h.data[stream]) > protocol.MaxInlineOutput {
			h.releaseLocked()
		}
	}
}

// release sends what is held live, and later messages straight through.
func (h *holdback) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

func (h *holdback) releaseLocked() {
	if h.released {
		return
	}
	h.released = true
	for _, m := range h.held {
		h.live.push(m.typ, m.payload, m.size)
	}
	h.held, h.data = nil, nil
}

// finish puts the held output in res and marks it inline when nothing
// was sent live and the held output is all of it; otherwise it sends
// what is held before the result goes.
func (h *holdback) finish(res *protocol.ScriptResult) {
	h.timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	out, errOut := h.data[protocol.StreamStdout], h.data[protocol.StreamStderr]
	if h.released || int64(len(out)) != res.Stdout.Bytes || int64(len(errOut)) != res.Stderr.Bytes {
		h.releaseLocked()
		return
	}
	h.released = true
	res.Inline, res.Stdout.Data, res.Stderr.Data = true, out, errOut
	h.held, h.data = nil, nil
}

// liveOutbox holds the live messages of script runs (started, output)
// for the connection that is up. Without one they are dropped, and so
// are those past maxLiveBytes: the result of a run says how much output
// it has, and the server asks for what it missed (CommandScriptOutput).
type liveOutbox struct {
	mu     sync.Mutex
	online bool
	msgs   []liveMessage
	bytes  int
	ready  chan struct{}
}

type liveMessage struct {
	typ     string
	payload any
	size    int
}

func newLiveOutbox() *liveOutbox { return &liveOutbox{ready: make(chan struct{}, 1)} }

// push queues a message of size bytes of output, or drops it. Safe from
// any goroutine; never blocks.
func (o *liveOutbox) push(typ string, payload any, size int) {
	o.mu.Lock()
	if !o.online || o.bytes+size > maxLiveBytes {
		o.mu.Unlock()
		return
	}
	o.msgs = append(o.msgs, liveMessage{typ: typ, payload: payload, size: size})
	o.bytes += size
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// setOnline says whether a connection takes messages; going offline drops
// what waits.
func (o *liveOutbox) setOnline(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.online = on
	if !on {
		o.msgs, o.bytes = nil, 0
	}
}

// send writes the waiting messages in order; what a failed write did not
// take is dropped with the connection.
func (o *liveOutbox) send(send func(typ string, payload any) error) error {
	o.mu.Lock()
	todo := o.msgs
	o.msgs, o.bytes = nil, 0
	o.mu.Unlock()
	for _, m := range todo {
		if err := send(m.typ, m.payload); err != nil {
			return err
		}
	}
	return nil
}
