package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Power timing.
const (
	// powerGrace is the least time between a request and its action, so
	// the result reaches the server (and the user sees the notice) before
	// the machine goes down.
	powerGrace = 5 * time.Second
	// bootSlack is how far the boot time may move without the machine
	// having restarted (it is computed from the uptime on some systems).
	bootSlack = 5 * time.Second
)

// Executor carries out a power action (protocol.PowerReboot or
// protocol.PowerShutdown) at once.
type Executor interface {
	Execute(ctx context.Context, action string) error
}

// PowerOptions configure a Power.
type PowerOptions struct {
	// Path keeps the pending action across agent restarts; "" keeps it in
	// memory.
	Path string
	Exec Executor
	// Boot is when the machine started (facts.BootTime).
	Boot func(ctx context.Context) (time.Time, error)
	Log  *slog.Logger
	// OnChange, if set, is told what is pending whenever it changes (the
	// tray's notice, the facts the server sees). It must not block long.
	OnChange func(protocol.PowerState)
}

// Power keeps the one pending reboot or shutdown and carries it out when
// its time comes (see Run). Create it with NewPower.
type Power struct {
	opts  PowerOptions
	wake  chan struct{} // capacity 1: the pending action changed
	grace time.Duration // powerGrace; tests shorten it

	mu      sync.Mutex
	pending pendingPower
}

// pendingPower is what is kept on disk: the action, and when the machine
// booted when it was asked for, so that an action the machine restarted
// past (it was rebooted by hand meanwhile) is dropped, not carried out on
// the new boot.
type pendingPower struct {
	protocol.PowerState
	Boot time.Time `json:"boot,omitzero"`
}

// NewPower reads the pending action kept at opts.Path, dropping it when
// the machine restarted since it was asked for. An action whose time has
// passed (the agent was down then) is carried out as soon as Run starts.
func NewPower(ctx context.Context, opts PowerOptions) *Power {
	p := &Power{opts: opts, wake: make(chan struct{}, 1), grace: powerGrace}
	if opts.Path == "" {
		return p
	}
	data, err := os.ReadFile(opts.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return p
	}
	var saved pendingPower
	if err == nil {
		err = json.Unmarshal(data, &saved)
	}
	if err == nil && saved.Action != protocol.PowerReboot && saved.Action != protocol.PowerShutdown {
		err = fmt.Errorf("unknown action %q", saved.Action)
	}
	if err != nil {
		opts.Log.WarnContext(ctx, "dropping the pending power action kept on disk", "path", opts.Path, "err", err)
		p.save(pendingPower{})
		return p
	}
	if boot, err := opts.Boot(ctx); err == nil && !saved.Boot.IsZero() && boot.Sub(saved.Boot) > bootSlack {
		opts.Log.InfoContext(ctx, "the machine restarted since the power action was asked for; dropping it",
			"action", saved.Action, "at", saved.At, "by", saved.By, "asked_at_boot", saved.Boot, "boot", boot)
		p.save(pendingPower{})
		return p
	}
	p.pending = saved
	opts.Log.InfoContext(ctx, "power action pending", "action", saved.Action, "at", saved.At, "by", saved.By)
	return p
}

// Pending is what is pending; Action is "" when nothing is.
func (p *Power) Pending() protocol.PowerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending.PowerState
}

// Request takes a checked request received at now: it replaces what is
// pending, or cancels it, and returns what is pending afterwards.
func (p *Power) Request(ctx context.Context, req protocol.PowerRequest, now time.Time) (protocol.PowerState, error) {
	var next pendingPower
	if req.Action != protocol.PowerCancel {
		at := req.When(now)
		if earliest := now.Add(p.grace); at.Before(earliest) {
			at = earliest
		}
		next.PowerState = protocol.PowerState{Action: req.Action, At: at.UTC(), Message: req.Message, By: req.By}
		// Without a boot time the action is kept anyway: the record is
		// removed before the action runs, so it cannot run twice.
		next.Boot, _ = p.opts.Boot(ctx)
	}
	p.mu.Lock()
	err := p.save(next)
	if err == nil {
		p.pending = next
	}
	p.mu.Unlock()
	if err != nil {
		return p.Pending(), fmt.Errorf("keep the power action: %w", err)
	}
	p.changed(next.PowerState)
	p.opts.Log.InfoContext(ctx, "power action requested", "action", req.Action, "at", next.At, "by", req.By)
	return next.PowerState, nil
}

// changed tells Run and OnChange about a new pending action.
func (p *Power) changed(s protocol.PowerState) {
	select {
	case p.wake <- struct{}{}:
	default:
	}
	if p.opts.OnChange != nil {
		p.opts.OnChange(s)
	}
}

// save keeps pending on disk (removes the file when nothing is pending).
func (p *Power) save(pending pendingPower) error {
	if p.opts.Path == "" {
		return nil
	}
	if pending.Action == "" {
		if err := os.Remove(p.opts.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := json.Marshal(pending)
	if err != nil {
		return err
	}
	return config.WriteFile(p.opts.Path, data)
}

// Run carries out the pending action when its time comes, until ctx ends.
func (p *Power) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	timer.Stop()
	defer timer.Stop()
	for {
		pend := p.Pending()
		if pend.Action != "" {
			timer.Reset(time.Until(pend.At))
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			timer.Stop()
		case <-timer.C:
			p.fire(ctx, pend)
		}
	}
}

// fire carries out pend if it is still what is pending. The record goes
// first: an action must never run twice, whereas one that fails is for
// the technician to ask again.
func (p *Power) fire(ctx context.Context, pend protocol.PowerState) {
	p.mu.Lock()
	if p.pending.PowerState != pend {
		p.mu.Unlock()
		return
	}
	err := p.save(pendingPower{})
	p.pending = pendingPower{}
	p.mu.Unlock()
	if err != nil {
		p.opts.Log.ErrorContext(ctx, "cannot remove the pending power action; carrying it out anyway", "err", err)
	}
	p.changed(protocol.PowerState{})
	p.opts.Log.WarnContext(ctx, "carrying out the power action", "action", pend.Action, "by", pend.By, "message", pend.Message)
	if err := p.opts.Exec.Execute(ctx, pend.Action); err != nil {
		p.opts.Log.ErrorContext(ctx, "power action failed", "action", pend.Action, "err", err)
	}
}
