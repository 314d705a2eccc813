package ipc

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// callerQueue makes a server take its callers, in accept order, from the
// test: connections dialled one after another, each proved served by a
// call before the next, are identified as the test says.
type callerQueue struct {
	mu   sync.Mutex
	next []Caller
}

func (q *callerQueue) push(c Caller) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next = append(q.next, c)
}

func (q *callerQueue) identify(net.Conn) (Caller, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.next) == 0 {
		return Caller{}, errors.New("test: no caller queued")
	}
	c := q.next[0]
	q.next = q.next[1:]
	return c, nil
}

// TestConnectionSlots: a user cannot take more than its share of
// connections, users together cannot take the admin's reserved slots, and
// a slot comes back when its connection closes.
func TestConnectionSlots(t *testing.T) {
	q := &callerQueue{}
	ts := startServer(t, func(s *Server) {
		s.MaxConns, s.ReservedAdmin, s.MaxConnsPerCaller = 4, 1, 2
		s.identify = q.identify
	})
	alice := Caller{User: "alice", UID: 1000, SID: "S-1-5-21-1-1001"}
	bob := Caller{User: "bob", UID: 1001, SID: "S-1-5-21-1-1002"}
	carol := Caller{User: "carol", UID: 1002, SID: "S-1-5-21-1-1003"}
	admin := Caller{User: "SYSTEM", UID: 0, SID: LocalSystemSID, Admin: true}
	open := func(c Caller) (*Client, error) {
		t.Helper()
		q.push(c)
		cl := dialT(t, ts.Endpoint())
		return cl, callT(t, cl, "echo", nil, nil)
	}
	steps := []struct {
		who  Caller
		busy bool
	}{
		{alice, false},
		{alice, false},
		{alice, true}, // per-account cap
		{bob, false},  // users now hold MaxConns-ReservedAdmin
		{carol, true}, // users' share is full
		{admin, false},
		{admin, true}, // every slot taken
	}
	var aliceFirst *Client
	for i, s := range steps {
		c, err := open(s.who)
		if s.busy != errors.Is(err, ErrBusy) || (!s.busy && err != nil) {
			t.Fatalf("step %d: %s got %v, want busy=%v", i, s.who.User, err, s.busy)
		}
		if i == 0 {
			aliceFirst = c
		}
	}
	// A closed connection gives its slot back: alice's place goes to
	// carol once the server has seen the close.
	aliceFirst.Close()
	deadline := time.Now().Add(waitLimit)
	for {
		_, err := open(carol)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("carol after alice closed got %v, want a slot", err)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's view, not syncing
	}
}

// TestUserIdleTimeoutShorter: a user's idle connection is closed after
// UserIdleTimeout while an admin's stays open.
func TestUserIdleTimeoutShorter(t *testing.T) {
	q := &callerQueue{}
	ts := startServer(t, func(s *Server) {
		s.IdleTimeout, s.UserIdleTimeout = time.Hour, 100*time.Millisecond
		s.identify = q.identify
	})
	q.push(Caller{User: "SYSTEM", SID: LocalSystemSID, Admin: true})
	adminConn := dialT(t, ts.Endpoint())
	if err := callT(t, adminConn, "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	q.push(Caller{User: "alice", UID: 1000, SID: "S-1-5-21-1-1001"})
	user := rawConn(t, ts.Endpoint())
	start := time.Now()
	if _, err := io.ReadAll(user); err != nil {
		t.Fatalf("idle user connection: %v, want the server to close it", err)
	}
	t.Logf("user connection closed after %s", time.Since(start).Round(time.Millisecond))
	if err := callT(t, adminConn, "echo", nil, nil); err != nil {
		t.Errorf("admin connection, idle as long: %v, want it still served", err)
	}
}
