package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/sim"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// wait bounds every poll: generous for a loaded machine under -race,
// while passing runs never wait this long.
const wait = 30 * time.Second

// server is a real steward server started through servertest, with a
// site and an unlimited enrollment token for it.
type server struct {
	*servertest.Server
	db    *store.DB
	token string
}

// newServer starts a server on a fresh SQLite database.
func newServer(t *testing.T, heartbeat time.Duration) *server {
	t.Helper()
	return serve(t, servertest.Options{Heartbeat: heartbeat})
}

func serve(t *testing.T, opts servertest.Options) *server {
	t.Helper()
	s := servertest.Start(t, opts)
	return &server{Server: s, db: s.DB(), token: s.EnrollmentToken(t, s.NewSite(t).ID)}
}

// newReplicas starts n replicas on one fresh PostgreSQL database, as
// production runs several (SQLite serves one replica only); it skips the
// test when no PostgreSQL is configured.
func newReplicas(t *testing.T, n int, heartbeat time.Duration) []*server {
	t.Helper()
	url := storetest.NewPostgresDatabase(t)
	out := make([]*server, n)
	for i := range out {
		out[i] = serve(t, servertest.Options{DatabaseURL: url, Heartbeat: heartbeat})
		if i > 0 {
			out[i].token = out[0].token
		}
	}
	return out
}

// count counts the server's log lines holding substr.
func (s *server) count(substr string) int { return strings.Count(s.Logs(), substr) }

// run is a simulation running in the background.
type run struct {
	sim    *sim.Sim
	cancel context.CancelFunc
	done   chan struct{}
	sum    sim.Summary
	err    error
}

// start runs cfg until stop; the test fails if it is not stopped.
func start(t *testing.T, cfg sim.Config) *run {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{sim: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.sum, r.err = s.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the run and returns its summary.
func (r *run) stop(t *testing.T) sim.Summary {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(wait):
		t.Fatalf("sim.Run did not return within %s of being stopped", wait)
	}
	if r.err != nil {
		t.Fatalf("sim.Run: %v", r.err)
	}
	return r.sum
}

// waitStats polls the run's stats until ok accepts them.
func (r *run) waitStats(t *testing.T, what string, ok func(sim.Stats) bool) sim.Stats {
	t.Helper()
	var st sim.Stats
	waitFor(t, what, func() bool {
		st = r.sim.Stats()
		return ok(st)
	}, func() string {
		return fmt.Sprintf("connected=%d errors=%d last_error=%q", st.Connected, st.Errors, st.LastError)
	})
	return st
}

func (r *run) waitConnected(t *testing.T, n int) sim.Stats {
	t.Helper()
	return r.waitStats(t, fmt.Sprintf("%d agents connected", n), func(st sim.Stats) bool { return st.Connected == n })
}

// waitFor polls cond until it holds; state describes what it saw last.
func waitFor(t *testing.T, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", wait, what, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitOnline(t *testing.T, db *store.DB, total, online int) {
	t.Helper()
	var got store.AgentCounts
	waitFor(t, "agent counts in the database", func() bool {
		var err error
		got, err = db.CountAgents(context.Background())
		if err != nil {
			t.Fatalf("CountAgents: %v", err)
		}
		return got.Total == total && got.Online == online
	}, func() string { return fmt.Sprintf("%+v, want total=%d online=%d", got, total, online) })
}

// identities reads the state file a run with StateDir wrote.
func identities(t *testing.T, dir string) []sim.Identity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, sim.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Agents []sim.Identity }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode %s: %v", sim.StateFile, err)
	}
	return doc.Agents
}
