//go:build linux || darwin

package ipc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testEndpoint is a socket path in a fresh directory, short enough for
// sun_path (104 bytes on macOS).
func testEndpoint(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "agent.sock")
}

// checkSelf checks the identity the server found for this test process.
func checkSelf(t *testing.T, c Caller) {
	t.Helper()
	if c.UID != os.Getuid() {
		t.Errorf("caller UID got %d, want %d", c.UID, os.Getuid())
	}
	if want := os.Getuid() == 0; c.Admin != want {
		t.Errorf("caller Admin got %v, want %v (uid %d)", c.Admin, want, os.Getuid())
	}
	if u, err := user.Current(); err == nil && c.User != u.Username {
		t.Errorf("caller User got %q, want %q", c.User, u.Username)
	}
}

func TestSocketModes(t *testing.T) {
	ts := startServer(t, nil)
	fi, err := os.Stat(ts.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode got %v, want a 0666 socket", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(ts.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o755 {
		t.Errorf("directory mode got %v, want 0755", di.Mode().Perm())
	}
	ts.stop(t)
	if _, err := os.Lstat(ts.Endpoint()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after stop: %v, want it removed", err)
	}
}

func TestStaleSocketRemoved(t *testing.T) {
	endpoint := testEndpoint(t)
	if err := os.MkdirAll(filepath.Dir(endpoint), 0o755); err != nil {
		t.Fatal(err)
	}
	// A crashed agent leaves its socket file behind.
	l, err := net.Listen("unix", endpoint)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(endpoint); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	ts := startServerAt(t, endpoint, nil)
	if err := callT(t, dialT(t, ts.Endpoint()), "echo", nil, nil); err != nil {
		t.Errorf("call after replacing a stale socket: %v", err)
	}
}

func TestListenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, endpoint string)
		want    error // nil: any error
	}{
		{"another process listens", func(t *testing.T, endpoint string) {
			os.MkdirAll(filepath.Dir(endpoint), 0o755)
			l, err := net.Listen("unix", endpoint)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, ErrInUse},
		{"a file that is not a socket", func(t *testing.T, endpoint string) {
			os.MkdirAll(filepath.Dir(endpoint), 0o755)
			if err := os.WriteFile(endpoint, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"the directory is a symlink", func(t *testing.T, endpoint string) {
			target := filepath.Join(filepath.Dir(filepath.Dir(endpoint)), "elsewhere")
			os.MkdirAll(target, 0o755)
			if err := os.Symlink(target, filepath.Dir(endpoint)); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"the directory belongs to another user", func(t *testing.T, endpoint string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the directory away")
			}
			os.MkdirAll(filepath.Dir(endpoint), 0o755)
			if err := os.Chown(filepath.Dir(endpoint), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := testEndpoint(t)
			tt.prepare(t, endpoint)
			s := NewServer(endpoint, slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			err := s.Serve(ctx)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Serve got %v, want %v", err, cmpWant(tt.want))
			}
		})
	}
	// What was there is untouched.
	endpoint := testEndpoint(t)
	os.MkdirAll(filepath.Dir(endpoint), 0o755)
	os.WriteFile(endpoint, []byte("keep me"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	NewServer(endpoint, slog.New(slog.DiscardHandler)).Serve(ctx)
	if b, _ := os.ReadFile(endpoint); string(b) != "keep me" {
		t.Errorf("a regular file at the endpoint was changed: %q", b)
	}
}

func TestSecondServerRefused(t *testing.T) {
	ts := startServer(t, nil)
	s := NewServer(ts.Endpoint(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Serve(ctx); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Serve got %v, want ErrInUse", err)
	}
	if err := callT(t, dialT(t, ts.Endpoint()), "echo", nil, nil); err != nil {
		t.Errorf("first server after the refused second: %v", err)
	}
}

func cmpWant(err error) string {
	if err == nil {
		return "an error"
	}
	return strconv.Quote(err.Error())
}

func benchEndpoint(b *testing.B) string { return testEndpoint(b) }

// TestStaleSocketOfAnotherUserKept: a socket left by another account is
// not removed and the agent does not serve in its place.
func TestStaleSocketOfAnotherUserKept(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the socket to another uid")
	}
	endpoint := testEndpoint(t)
	if err := os.MkdirAll(filepath.Dir(endpoint), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", endpoint)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := os.Lchown(endpoint, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	s := NewServer(endpoint, slog.New(slog.DiscardHandler))
	err = s.Serve(t.Context())
	if err == nil || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Fatalf("Serve beside another user's socket got %v, want a refusal naming uid 4242", err)
	}
	if _, err := os.Lstat(endpoint); err != nil {
		t.Errorf("the other user's socket was removed: %v", err)
	}
}
