package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
)

// otherOwner is an account that is not this process's.
func otherOwner(t *testing.T) Owner {
	t.Helper()
	me := testOwner(t)
	other := Owner{SID: LocalSystemSID, UID: me.UID + 1}
	if me.SID == LocalSystemSID {
		other.SID = "S-1-5-19" // LocalService
	}
	return other
}

// TestDialChecksServerOwner proves a client believes only a server of the
// account it expects: against a server of another account (a squatter, as
// far as the client can tell) Dial fails with ErrImpostor before any
// request reaches it.
func TestDialChecksServerOwner(t *testing.T) {
	var calls atomic.Int32
	ts := startServer(t, func(s *Server) {
		s.Handle("count", RoleUser, func(context.Context, Caller, json.RawMessage) (any, error) {
			calls.Add(1)
			return nil, nil
		})
	})
	if err := callT(t, dialT(t, ts.Endpoint()), "count", nil, nil); err != nil {
		t.Fatalf("call with the server's own account expected: %v", err)
	}
	want := otherOwner(t)
	c, err := Dial(t.Context(), ts.Endpoint(), want)
	if err == nil {
		c.Close()
		t.Fatalf("Dial expecting %s got a client; want ErrImpostor", want)
	}
	if !errors.Is(err, ErrImpostor) {
		t.Fatalf("Dial expecting %s got %v, want ErrImpostor", want, err)
	}
	t.Logf("refused: %v", err)
	if n := calls.Load(); n != 1 {
		t.Errorf("server saw %d calls, want 1 (none from the refused client)", n)
	}
}

// BenchmarkDial measures a connection with the server's account checked,
// what the tray and the watchdog pay per call.
func BenchmarkDial(b *testing.B) {
	endpoint := benchEndpoint(b)
	s := NewServer(endpoint, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-s.Ready()
	owner := testOwner(b)
	for b.Loop() {
		c, err := Dial(ctx, endpoint, owner)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
