// Package schedule decides when the scheduled scripts of the agent's
// policy (scripts.schedules) are due, in the machine's local time zone,
// and keeps each due until the server acknowledges it: the server, told
// with a schedule_due, creates the run and delivers it as any script run.
//
// Each schedule's state (the last occurrence the server acknowledged, the
// due waiting for an answer) is kept in a file, so that a restarted agent
// neither runs an occurrence twice nor forgets one. A schedule that was
// due while the agent was stopped or offline runs once, for its most
// recent occurrence, if that is still within its window; older ones are
// never sent (no backlog).
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/schedule"
)

// maxSchedules bounds the schedules read from a policy, as the server's
// policy does.
const maxSchedules = 10

// recheck bounds a wait: the wall clock may jump (a suspended laptop, a
// clock set by hand) and a due is found at most this late.
const recheck = time.Minute

// PolicySource is the agent's effective policy, followed live (a
// settings.Store).
type PolicySource interface {
	Current() config.Policy
	Changed() <-chan struct{}
}

// Options configure a Scheduler.
type Options struct {
	// StateFile keeps the schedules' state; "" keeps it in memory.
	StateFile string
	// Location is the time zone schedules are read in; nil is time.Local.
	Location *time.Location
	Log      *slog.Logger
}

// Scheduler finds the dues of the policy's schedules. Run finds them;
// the control connection sends Pending and reports the answers to Acked.
type Scheduler struct {
	opts Options
	loc  *time.Location

	mu      sync.Mutex
	entries map[string]entry
	state   map[string]*record
	ready   chan struct{}
}

// entry is an enabled schedule of the policy.
type entry struct {
	spec   schedule.Spec
	window time.Duration
}

// record is what the state file keeps of one schedule.
type record struct {
	// When is the schedule the record is about: a changed when starts
	// afresh.
	When string `json:"when"`
	// Since is when the agent took the schedule; occurrences due before
	// are not missed runs.
	Since time.Time `json:"since"`
	// Last is the last occurrence acknowledged (or given up).
	Last    string    `json:"last,omitempty"`
	LastDue time.Time `json:"last_due,omitzero"`
	// Pending waits for the server's answer.
	Pending *protocol.ScheduleDue `json:"pending,omitempty"`
}

type stateFile struct {
	Schedules map[string]*record `json:"schedules"`
}

// New returns a Scheduler with the state StateFile holds.
func New(opts Options) *Scheduler {
	s := &Scheduler{opts: opts, loc: opts.Location, entries: map[string]entry{}, state: map[string]*record{}, ready: make(chan struct{}, 1)}
	if s.loc == nil {
		s.loc = time.Local
	}
	if opts.StateFile != "" {
		if err := s.load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			opts.Log.Warn("cannot read the schedules' state; schedules start afresh", "path", opts.StateFile, "err", err)
		}
	}
	return s
}

func (s *Scheduler) load() error {
	f, err := os.Open(s.opts.StateFile)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return err
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return fmt.Errorf("parse %s: %w", s.opts.StateFile, err)
	}
	for name, r := range sf.Schedules {
		if r != nil && len(s.state) < maxSchedules {
			s.state[name] = r
		}
	}
	return nil
}

// save writes the state. Called with mu held.
func (s *Scheduler) save() {
	if s.opts.StateFile == "" {
		return
	}
	b, err := json.Marshal(stateFile{Schedules: s.state})
	if err == nil {
		err = config.WriteFile(s.opts.StateFile, b)
	}
	if err != nil {
		s.opts.Log.Warn("cannot save the schedules' state; a restart may send a due again", "err", err)
	}
}

// parsePolicy reads scripts.schedules from an effective policy, tolerant
// like the agent's other sections: entries that are disabled, malformed
// or repeated are left out.
func parsePolicy(doc json.RawMessage) map[string]entry {
	var raw struct {
		Scripts struct {
			Schedules []json.RawMessage `json:"schedules"`
		} `json:"scripts"`
	}
	_ = json.Unmarshal(doc, &raw)
	out := map[string]entry{}
	for _, r := range raw.Scripts.Schedules {
		var e struct {
			Name    string `json:"name"`
			When    string `json:"when"`
			Window  string `json:"window"`
			Enabled *bool  `json:"enabled"`
		}
		if json.Unmarshal(r, &e) != nil || (e.Enabled != nil && !*e.Enabled) || !schedule.ValidName(e.Name) {
			continue
		}
		spec, err := schedule.Parse(e.When)
		if _, dup := out[e.Name]; err != nil || dup {
			continue
		}
		w := spec.Window()
		if d, err := time.ParseDuration(e.Window); err == nil {
			w = min(max(d, schedule.MinWindow), schedule.MaxWindow)
		}
		out[e.Name] = entry{spec: spec, window: w}
		if len(out) == maxSchedules {
			break
		}
	}
	return out
}

// SetPolicy takes the schedules of an effective policy. A schedule new to
// the agent, or whose when changed, starts now: occurrences before are not
// missed runs. A schedule gone or disabled is forgotten with its due.
func (s *Scheduler) SetPolicy(doc json.RawMessage, now time.Time) {
	entries := parsePolicy(doc)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = entries
	changed := false
	for name, e := range entries {
		if r := s.state[name]; r == nil || r.When != e.spec.String() {
			s.state[name] = &record{When: e.spec.String(), Since: now.UTC()}
			changed = true
		}
	}
	for name := range s.state {
		if _, ok := entries[name]; !ok {
			delete(s.state, name)
			changed = true
		}
	}
	if changed {
		s.save()
	}
	// Dues kept from before (a restart) wait for a connection as new
	// ones do.
	for name := range entries {
		if s.state[name].Pending != nil {
			s.signal()
			break
		}
	}
}

// signal wakes the sender; one pending signal is enough.
func (s *Scheduler) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Check finds the schedules due at now: each one's most recent occurrence
// not acknowledged yet becomes its pending due if now is within its
// window; a pending due whose window passed is given up. It returns when
// to check next.
func (s *Scheduler) Check(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := now.Add(recheck)
	added, changed := false, false
	for name, e := range s.entries {
		r := s.state[name]
		if p := r.Pending; p != nil && !now.Before(p.Due.Add(e.window)) {
			s.opts.Log.Warn("scheduled run missed: its window passed before the server took it", "schedule", name, "occurrence", p.Occurrence)
			r.Last, r.LastDue, r.Pending = p.Occurrence, p.Due, nil
			changed = true
		}
		if o, ok := e.spec.Prev(now, s.loc); ok && !o.Due.Before(r.Since) && o.Due.After(r.LastDue) &&
			(r.Pending == nil || o.Due.After(r.Pending.Due)) && now.Before(o.Due.Add(e.window)) {
			if r.Pending != nil {
				s.opts.Log.Warn("scheduled run superseded by a newer occurrence before the server took it", "schedule", name, "occurrence", r.Pending.Occurrence)
			}
			r.Pending = &protocol.ScheduleDue{Name: name, Occurrence: o.Label, Due: o.Due.UTC()}
			s.opts.Log.Info("scheduled script due", "schedule", name, "occurrence", o.Label, "late", now.Sub(o.Due).Round(time.Second))
			added = true
		}
		if o, ok := e.spec.Next(now, s.loc); ok && o.Due.Before(next) {
			next = o.Due
		}
	}
	if added || changed {
		s.save()
	}
	if added {
		s.signal()
	}
	return next
}

// Pending returns the dues waiting for the server, by name.
func (s *Scheduler) Pending() []protocol.ScheduleDue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.ScheduleDue
	for name, r := range s.state {
		if _, ok := s.entries[name]; ok && r.Pending != nil {
			out = append(out, *r.Pending)
		}
	}
	slices.SortFunc(out, func(a, b protocol.ScheduleDue) int { return a.Due.Compare(b.Due) })
	return out
}

// Ready is signalled when a due is added.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// Acked takes the server's answer to a due: the occurrence is done, ran
// or refused; a refusal is logged.
func (s *Scheduler) Acked(ctx context.Context, a protocol.ScheduleAck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.state[a.Name]
	if r == nil || r.Pending == nil || r.Pending.Occurrence != a.Occurrence {
		return // an answer to a due sent twice, or given up since
	}
	r.Last, r.LastDue, r.Pending = a.Occurrence, r.Pending.Due, nil
	s.save()
	if a.Error != "" {
		s.opts.Log.ErrorContext(ctx, "server refused a scheduled run", "schedule", a.Name, "occurrence", a.Occurrence, "err", a.Error)
		return
	}
	s.opts.Log.InfoContext(ctx, "scheduled run accepted", "schedule", a.Name, "occurrence", a.Occurrence, "job_id", a.JobID)
}

// Run follows the policy and checks the schedules at each due time (and at
// least every minute) until ctx is cancelled.
func (s *Scheduler) Run(ctx context.Context, policy PolicySource) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	changed := policy.Changed()
	s.SetPolicy(policy.Current().Policy, time.Now())
	for {
		now := time.Now()
		next := s.Check(now)
		timer.Reset(max(next.Sub(now), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-changed:
			changed = policy.Changed()
			s.SetPolicy(policy.Current().Policy, time.Now())
		}
	}
}
