package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/sim"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// wait bounds every poll: generous for a loaded machine under -race,
// while passing runs never wait this long.
const wait = 30 * time.Second

// server is one steward replica built from the real pieces: hub behind the
// real gateway routes on an httptest server.
type server struct {
	db  *store.DB
	hub *hub.Hub
	srv *httptest.Server
	log *lockedBuffer
}

func newDB(t *testing.T) *store.DB {
	t.Helper()
	return storetest.Open(t, store.Options{DataDir: t.TempDir()})
}

// newToken creates a client, a site and an enrollment token in db.
func newToken(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := t.Context()
	svc := manage.New(db)
	c, err := svc.CreateClient(ctx, access.Console(), "Sim "+store.NewID())
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	s, err := svc.CreateSite(ctx, access.Console(), c.ID, "Lab")
	if err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return tok
}

func newServer(t *testing.T, db *store.DB, replicaID string, heartbeat time.Duration) *server {
	t.Helper()
	// The hub's serve goroutines can outlive a failed test by a little;
	// their logs go to a buffer, never to t.
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	// Metrics as production registers them, for --metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := hub.New(db, bus.NewLocal(), log, hub.Options{ReplicaID: replicaID, Heartbeat: heartbeat, ServerVersion: "test", Registerer: reg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	mux := http.NewServeMux()
	gateway.New(db, h, log, false).Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Shutdown()
		srv.Close()
		cancel()
		<-done
	})
	return &server{db: db, hub: h, srv: srv, log: logs}
}

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

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
