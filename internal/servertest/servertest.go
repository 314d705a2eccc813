// Package servertest starts the real Steward server in-process for tests:
// server.New on a loopback port, on SQLite and (when configured) on
// PostgreSQL, with helpers to seed users by role, clients, sites and
// enrollment tokens, to call the HTTP API, and to connect protocol-level
// fake agents. Tests of every package that needs a running server start
// from here instead of wiring their own.
package servertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/server"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// Wait bounds every read and poll of the helpers: generous so that a loaded
// 2-core machine does not flake, while passing runs never wait this long.
const Wait = 20 * time.Second

// Options configures a test server; the zero value is a SQLite server with
// a 500 ms heartbeat.
type Options struct {
	// DatabaseURL selects PostgreSQL; empty means a fresh SQLite file.
	DatabaseURL string
	// NATSURL joins a NATS bus (PostgreSQL only, as in production).
	NATSURL string
	// Heartbeat is the agents' heartbeat interval; 0 means 500 ms.
	Heartbeat time.Duration
	// TrustProxy trusts X-Forwarded-For as behind a reverse proxy.
	TrustProxy bool
	// DataDir reuses a data directory (to restart a server on the same
	// SQLite file); empty means a fresh temporary one.
	DataDir string
	// AgentDir is where agent binaries are served from; empty means
	// DataDir/agents.
	AgentDir string
	// PublicURL is the URL the server names itself by (install commands,
	// links in notifications); empty means its loopback address.
	PublicURL string
	// ReleaseKeys are the release public keys the server trusts.
	ReleaseKeys []string
	// MaxDownloads bounds concurrent release downloads; 0 is the default.
	MaxDownloads int
	// ConfirmAbove is the number of agents past which a job needs its
	// count confirmed; 0 never asks.
	ConfirmAbove int
}

// Server is a real server running in-process until the test ends.
type Server struct {
	*server.Server
	// URL is the server's base URL, e.g. http://127.0.0.1:40123.
	URL string
	// Manage is the server's own management service, for seeding as the
	// console would: policy changes made through it reach the server's
	// cache and its agents.
	Manage *manage.Service
	// Options are the options the server was started with, defaults
	// filled in.
	Options Options

	logs *logBuffer
	stop func() error

	mu     sync.Mutex
	users  map[store.Role]User
	client *store.Client
}

// Backend is one database engine a test runs against.
type Backend struct {
	Name string
	// Options returns options for a fresh, empty database of the engine.
	Options func(t *testing.T) Options
}

// Backends returns SQLite and, when STEWARD_TEST_DATABASE_URL is set,
// PostgreSQL; without it, it logs that PostgreSQL was skipped.
func Backends(t *testing.T) []Backend {
	t.Helper()
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run it", storetest.EnvPostgresURL)
	}
	var out []Backend
	for _, b := range storetest.Backends(t) {
		out = append(out, Backend{Name: b.Name, Options: func(t *testing.T) Options {
			return Options{DatabaseURL: b.Options(t).URL}
		}})
	}
	return out
}

// Each runs fn once per database engine, each with its own fresh server
// built from opts (opts.DatabaseURL is set per engine). Without
// STEWARD_TEST_DATABASE_URL it logs that PostgreSQL was skipped.
func Each(t *testing.T, opts Options, fn func(t *testing.T, s *Server)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			o := opts
			o.DatabaseURL = b.Options(t).DatabaseURL
			fn(t, Start(t, o))
		})
	}
}

// Start builds and runs a server until the test ends. When the test
// fails, the server's log is printed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 500 * time.Millisecond
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	logs := &logBuffer{}
	// Server goroutines can outlive a failed test by a little: they log to
	// a buffer, never to t.
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.WithoutCancel(t.Context())
	srv, err := server.New(ctx, server.Config{
		Listen: "127.0.0.1:0", DataDir: opts.DataDir, DatabaseURL: opts.DatabaseURL, NATSURL: opts.NATSURL,
		AgentDir: opts.AgentDir, PublicURL: opts.PublicURL, Heartbeat: opts.Heartbeat, TrustProxy: opts.TrustProxy, Version: "test",
		ReleaseKeys: opts.ReleaseKeys, MaxDownloads: opts.MaxDownloads, ConfirmAbove: opts.ConfirmAbove,
	}, log)
	if err != nil {
		t.Fatalf("server.New: %v\nlog:\n%s", err, logs)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	var (
		once    sync.Once
		stopErr error
	)
	s := &Server{
		Server: srv, URL: "http://" + srv.Addr().String(), Manage: srv.Manage(), Options: opts,
		logs: logs, users: map[store.Role]User{},
	}
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(Wait):
				stopErr = errors.New("server.Run did not return after cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", logs.tail(80))
		}
	})
	return s
}

// Stop shuts the server down gracefully, as on SIGTERM, and returns Run's
// error. The test's cleanup calls it too; a second call returns the same.
func (s *Server) Stop() error { return s.stop() }

// Logs returns what the server has logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// logBuffer collects the server's log lines for a failing test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) tail(n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
