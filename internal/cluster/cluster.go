// Package cluster lets several server replicas share one database: each
// replica keeps a lease on its row (so agents held by a dead replica can be
// found and marked offline), and background jobs that must run once run
// only on the replica holding the jobs lease, moving to another replica
// when that one dies.
package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// JobsLease names the lease whose holder runs the singleton jobs.
const JobsLease = "jobs"

// Job is background work that must run on one replica at a time.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// Member is this replica's membership in the cluster.
type Member struct {
	db     *store.DB
	log    *slog.Logger
	self   store.Replica
	ttl    time.Duration
	jobs   []Job
	leader atomic.Bool
	// renewErr is the last renewal's failure, nil after one succeeded.
	renewErr atomic.Pointer[error]
}

// New returns a Member. ttl is how long a lease lasts without renewal; the
// member renews every ttl/3.
func New(db *store.DB, log *slog.Logger, self store.Replica, ttl time.Duration, jobs []Job) *Member {
	return &Member{db: db, log: log, self: self, ttl: ttl, jobs: jobs}
}

// Join records this replica with a fresh lease. Call it before accepting
// agents, so no other replica takes them for orphans.
func (m *Member) Join(ctx context.Context) error {
	return m.db.RenewReplica(ctx, m.self, time.Now().Add(m.ttl))
}

// Leader reports whether this replica runs the singleton jobs now.
func (m *Member) Leader() bool { return m.leader.Load() }

// minJobStep bounds how often Run wakes for a job due more often than the
// lease is renewed (a quarter of the renewal interval when that is less).
const minJobStep = time.Second

// Run renews the replica lease, competes for the jobs lease and runs the
// jobs while it holds it, until ctx ends; then it releases both. It wakes
// every ttl/3 to renew, or at the interval of the most frequent job when
// that is shorter (a job due every 5 s is not held to a 30 s renewal).
func (m *Member) Run(ctx context.Context) {
	renewEvery := m.ttl / 3
	step, floor := renewEvery, min(minJobStep, renewEvery/4)
	for _, j := range m.jobs {
		if j.Every > 0 && j.Every < step {
			step = max(j.Every, floor)
		}
	}
	tick := time.NewTicker(step)
	defer tick.Stop()
	lastRun := make([]time.Time, len(m.jobs))
	var renewed time.Time
	for {
		if time.Since(renewed) >= renewEvery-step/2 {
			m.renew(ctx)
			renewed = time.Now()
		}
		if m.leader.Load() {
			now := time.Now()
			for i, j := range m.jobs {
				if now.Sub(lastRun[i]) < j.Every {
					continue
				}
				lastRun[i] = now
				if err := j.Run(ctx); err != nil && ctx.Err() == nil {
					m.log.Error("background job failed", "job", j.Name, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			m.leave()
			return
		case <-tick.C:
		}
	}
}

func (m *Member) renew(ctx context.Context) {
	expires := time.Now().Add(m.ttl)
	var failed error
	if err := m.db.RenewReplica(ctx, m.self, expires); err != nil {
		failed = err
		if ctx.Err() == nil {
			m.log.Error("renew replica lease", "err", err)
		}
	}
	held, err := m.db.AcquireLease(ctx, JobsLease, m.self.ID, expires)
	if err != nil {
		failed = errors.Join(failed, err)
		if ctx.Err() == nil {
			m.log.Error("renew jobs lease", "err", err)
		}
		held = false
	}
	if failed != nil {
		m.renewErr.Store(&failed)
	} else {
		m.renewErr.Store(nil)
	}
	if was := m.leader.Swap(held); was != held {
		if held {
			m.log.Info("this replica now runs the background jobs", "replica_id", m.self.ID)
		} else {
			m.log.Info("another replica runs the background jobs now", "replica_id", m.self.ID)
		}
	}
}

// Err returns why the last lease renewal failed, or nil: a replica that
// cannot write its lease cannot write much else.
func (m *Member) Err() error {
	if p := m.renewErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (m *Member) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Release even when the flag is already false: a renew that ran after
	// ctx ended fails and clears the flag while the row is still ours.
	// ReleaseLease deletes only a lease this replica holds.
	m.leader.Store(false)
	if err := m.db.ReleaseLease(ctx, JobsLease, m.self.ID); err != nil {
		m.log.Warn("release jobs lease", "err", err)
	}
	if err := m.db.RemoveReplica(ctx, m.self.ID); err != nil {
		m.log.Warn("remove replica", "err", err)
	}
}
