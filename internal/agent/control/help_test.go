package control

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// expectHelp reads messages up to the next help request, skipping
// heartbeats and policy acks.
func (sc *serverConn) expectHelp(t *testing.T) (protocol.Envelope, protocol.HelpRequest) {
	t.Helper()
	for {
		env, err := sc.read(t)
		if err != nil {
			t.Fatalf("waiting for a help request: %v", err)
		}
		switch env.Type {
		case protocol.TypeHeartbeat, protocol.TypePolicyAck:
			continue
		case protocol.TypeHelpRequest:
			h, err := protocol.DecodeHelpRequest(env.Data)
			if err != nil {
				t.Fatalf("help request %s: %v", env.Data, err)
			}
			return env, h
		default:
			t.Fatalf("agent sent %q, want %q", env.Type, protocol.TypeHelpRequest)
		}
	}
}

func (sc *serverConn) ackHelp(t *testing.T, id string) {
	t.Helper()
	b, err := protocol.Encode(protocol.TypeHelpRequestAck, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc.sendRaw(t, b)
}

// waitPending waits until the help outbox holds n requests.
func waitPending(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for len(c.help.list()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("help requests pending: %d, want %d", len(c.help.list()), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestHelpRequestOfflineThenSent: a request made before the agent is
// connected goes after the welcome, again on every connection until the
// server acknowledges it, and never after.
func TestHelpRequestOfflineThenSent(t *testing.T) {
	fs := newFakeServer(t, nil)
	file := filepath.Join(t.TempDir(), "help-requests.json")
	a := startAgent(t, fs, func(o *Options) { o.HelpFile = file })
	want, err := a.client.RequestHelp(`ACME\alice`, "The printer is on fire.\nAgain.")
	if err != nil {
		t.Fatalf("RequestHelp: %v", err)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), want.ID) {
		t.Fatalf("help file after RequestHelp: %q, %v; want the request in it", b, err)
	}

	sc := fs.next(t)
	sc.handshake(t, quiet)
	env, got := sc.expectHelp(t)
	if env.ID != want.ID {
		t.Errorf("envelope ID got %q, want the request's ID %q", env.ID, want.ID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("help request (-want +got):\n%s", diff)
	}
	// Not acknowledged: the next connection carries it again.
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	if env, _ := sc.expectHelp(t); env.ID != want.ID {
		t.Fatalf("after reconnecting got help request %q, want %q again", env.ID, want.ID)
	}
	sc.ackHelp(t, want.ID)
	waitPending(t, a.client, 0)
	if b, err := os.ReadFile(file); err != nil || strings.Contains(string(b), want.ID) {
		t.Errorf("help file after the ack: %q, %v; want the request gone", b, err)
	}
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	sc.send(t, protocol.TypeHeartbeat, protocol.Heartbeat{Time: time.Now()})
	// A heartbeat round trip proves the welcome was handled.
	a.waitLog(t, "heartbeat from server")
	sc.expectNothing(t)
}

// TestHelpRequestWhileConnected goes at once.
func TestHelpRequestWhileConnected(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	for _, msg := range []string{"one", "two"} {
		h, err := a.client.RequestHelp("bob", msg)
		if err != nil {
			t.Fatal(err)
		}
		if env, got := sc.expectHelp(t); env.ID != h.ID || got.Message != msg {
			t.Fatalf("got help request %q %q, want %q %q", env.ID, got.Message, h.ID, msg)
		}
		sc.ackHelp(t, h.ID)
	}
	waitPending(t, a.client, 0)
}

// TestHelpRequestSurvivesRestart: a request recorded by one run is sent
// by the next.
func TestHelpRequestSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "help-requests.json")
	down := newFakeServer(t, func(int32, http.ResponseWriter) bool { return true }) // never upgrades
	first := startAgent(t, down, func(o *Options) { o.HelpFile = file })
	want, err := first.client.RequestHelp("carol", "help")
	if err != nil {
		t.Fatal(err)
	}
	first.stop(t)

	fs := newFakeServer(t, nil)
	second := startAgent(t, fs, func(o *Options) { o.HelpFile = file })
	sc := fs.next(t)
	sc.handshake(t, quiet)
	if _, got := sc.expectHelp(t); !cmp.Equal(got, want) {
		t.Errorf("after a restart got %+v, want %+v", got, want)
	}
	sc.ackHelp(t, want.ID)
	waitPending(t, second.client, 0)
}

// TestHelpRequestRefused: a request the server finds malformed or refuses
// as one too many is dropped; one an older server does not know is kept
// for the next connection.
func TestHelpRequestRefused(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	bad, _ := a.client.RequestHelp("dave", "bad")
	sc.expectHelp(t)
	sc.send(t, protocol.TypeError, protocol.Error{Code: protocol.CodeBadMessage, Message: "no", RefID: bad.ID})
	waitPending(t, a.client, 0)

	// One too many for the server is dropped too, not sent again.
	flood, _ := a.client.RequestHelp("dave", "again")
	sc.expectHelp(t)
	sc.send(t, protocol.TypeError, protocol.Error{Code: protocol.CodeRateLimited, Message: "too many", RefID: flood.ID})
	waitPending(t, a.client, 0)
	a.waitLog(t, "too many from this machine; dropped it")

	old, _ := a.client.RequestHelp("dave", "to an old server")
	sc.expectHelp(t)
	sc.send(t, protocol.TypeError, protocol.Error{Code: protocol.CodeUnknownType, Message: "help_request", RefID: old.ID})
	a.waitLog(t, "sent again on the next connection")
	if n := len(a.client.help.list()); n != 1 {
		t.Fatalf("pending after unknown_type: %d, want 1", n)
	}
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	if env, _ := sc.expectHelp(t); env.ID != old.ID {
		t.Errorf("after reconnecting got %q, want %q", env.ID, old.ID)
	}
}

func TestRequestHelpBounds(t *testing.T) {
	fs := newFakeServer(t, func(int32, http.ResponseWriter) bool { return true })
	a := startAgent(t, fs, nil)
	for _, tt := range []struct{ user, msg string }{
		{"eve", "   "},
		{"", "hello"},
		{"eve", strings.Repeat("x", protocol.MaxHelpMessageLen+1)},
		{"eve", "bell\a"},
	} {
		if _, err := a.client.RequestHelp(tt.user, tt.msg); !errors.Is(err, ErrInvalidHelpRequest) {
			t.Errorf("RequestHelp(%q, %.10q) got %v, want ErrInvalidHelpRequest", tt.user, tt.msg, err)
		}
	}
	for i := range MaxPendingHelp {
		if _, err := a.client.RequestHelp("eve", "again"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := a.client.RequestHelp("eve", "one too many"); !errors.Is(err, ErrHelpQueueFull) {
		t.Errorf("request over the bound got %v, want ErrHelpQueueFull", err)
	}
}

// TestAlive: the loop proves itself alive while it waits to reconnect,
// and stops doing so when it is stuck (here in OnPolicy).
func TestAlive(t *testing.T) {
	fs := newFakeServer(t, nil)
	stuck, release := make(chan struct{}), make(chan struct{})
	a := startAgent(t, fs, func(o *Options) {
		o.AliveInterval = time.Millisecond
		o.OnPolicy = func(_ context.Context, _ protocol.PolicyUpdate) error {
			close(stuck)
			<-release
			return nil
		}
	})
	waitAliveAfter(t, a.client, time.Now())
	sc := fs.next(t)
	sc.handshake(t, quiet)
	waitAliveAfter(t, a.client, time.Now()) // connected and idle
	sc.send(t, protocol.TypePolicy, protocol.PolicyUpdate{Revision: "r1", Policy: []byte(`{}`)})
	<-stuck
	before := a.client.Alive()
	time.Sleep(50 * time.Millisecond) // 50 intervals: nothing may happen
	if got := a.client.Alive(); !got.Equal(before) {
		t.Errorf("a stuck loop proved itself alive at %v (stuck since %v)", got, before)
	}
	close(release)
	waitAliveAfter(t, a.client, time.Now())
}

func waitAliveAfter(t *testing.T, c *Client, after time.Time) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !c.Alive().After(after) {
		if time.Now().After(deadline) {
			t.Fatalf("Alive stayed at %v, want after %v", c.Alive(), after)
		}
		time.Sleep(time.Millisecond)
	}
}
