package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// syncBuffer is a log sink safe for the server's goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a server started in-process by startServer.
type running struct {
	url  string
	log  *syncBuffer
	stop func() error // cancels Run and returns its error
}

// startServer runs the server on a loopback port until stop or the end
// of the test.
func startServer(t *testing.T, cfg Config) *running {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		srv, err := New(ctx, cfg, log)
		if err != nil {
			errc <- err
			return
		}
		addrc <- srv.Addr()
		errc <- srv.Run(ctx)
	}()

	var (
		once    sync.Once
		stopErr error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-beforeDeadline(t):
				t.Fatalf("Run did not return after cancellation; log:\n%s", logs)
			}
		})
		return stopErr
	}
	select {
	case a := <-addrc:
		t.Cleanup(func() { stop() })
		return &running{url: "http://" + a.String(), log: logs, stop: stop}
	case err := <-errc:
		cancel()
		t.Fatalf("Run returned before ready: %v; log:\n%s", err, logs)
	case <-beforeDeadline(t):
		cancel()
		t.Fatalf("server not ready; log:\n%s", logs)
	}
	return nil
}

// beforeDeadline fires shortly before the test binary's -timeout, so that
// a server that hangs fails its test with the server's log rather than
// the binary's panic without it; without a timeout it never fires. Passing
// runs wait only for the condition itself.
func beforeDeadline(t *testing.T) <-chan time.Time {
	d, ok := t.Deadline()
	if !ok {
		return nil
	}
	left := time.Until(d)
	return time.After(left - min(left/10, 30*time.Second))
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return res.StatusCode, string(body)
}

func TestRunServesAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir, Version: "test"})

	for _, tt := range []struct {
		path string
		want int
	}{
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusOK},
		{"/api/v1/status", http.StatusUnauthorized},
	} {
		if got, body := get(t, s.url+tt.path); got != tt.want {
			t.Errorf("GET %s = %d, want %d; body: %s", tt.path, got, tt.want, body)
		}
	}
	// The request metrics above are recorded once each response is written.
	code, metrics := get(t, s.url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", code)
	}
	for _, want := range []string{"steward_agents_connected", "steward_http_request_duration_seconds"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}

	logs := s.log.String()
	if !strings.Contains(logs, "setup_url=") || !strings.Contains(logs, "/setup?token=sts_") {
		t.Errorf("log lacks a setup_url with a setup token for a fresh database:\n%s", logs)
	}

	start := time.Now()
	if err := s.stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %s to return after cancel, want under 5s", took)
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Error("GET /healthz after shutdown succeeded, want the listener closed")
	}
}

func TestRunNoSetupURLWhenUsersExist(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if _, err := db.CreateUser(t.Context(), "owner@example.com", "not-a-real-hash", store.RoleOwner); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	db.Close()

	s := startServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir})
	if err := s.stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if logs := s.log.String(); strings.Contains(logs, "setup_url") {
		t.Errorf("log offers a setup_url although a user exists:\n%s", logs)
	}
}

func TestNewRefusesSecondReplicaOnSQLite(t *testing.T) {
	dir := t.TempDir()
	startServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir})

	srv, err := New(t.Context(), Config{Listen: "127.0.0.1:0", DataDir: dir}, slog.New(slog.DiscardHandler))
	if err == nil {
		srv.Close()
		t.Error("the second replica was built")
	}
	if err == nil || !strings.Contains(err.Error(), "one replica only") {
		t.Errorf("second Run on %s = %v, want an error mentioning %q", dir, err, "one replica only")
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	srv, err := New(t.Context(), Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), NATSURL: "nats://127.0.0.1:4222"},
		slog.New(slog.DiscardHandler))
	if err == nil {
		srv.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "--nats-url") {
		t.Errorf("New with --nats-url and SQLite = %v, want a --nats-url error", err)
	}
}
