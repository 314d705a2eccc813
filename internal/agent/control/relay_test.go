package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeSessions records the sessions opened and hands their dials to the
// test; it refuses all when busy is set.
type fakeSessions struct {
	running chan struct{}
	opened  chan func(context.Context) (*websocket.Conn, error)
	busy    atomic.Bool
}

func (f *fakeSessions) Run(ctx context.Context) {
	close(f.running)
	<-ctx.Done()
}

func (f *fakeSessions) Open(_ protocol.SessionOpen, dial func(context.Context) (*websocket.Conn, error)) error {
	if f.busy.Load() {
		return errors.New("busy")
	}
	f.opened <- dial
	return nil
}

func TestSessionOpen(t *testing.T) {
	type seen struct{ path, auth, token string }
	relayed := make(chan seen, 1)
	fs := newFakeServer(t, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		relayed <- seen{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get(protocol.RelayTokenHeader)}
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.CloseNow()
		}
	})
	fs.relay.Store(&h)
	sessions := &fakeSessions{running: make(chan struct{}), opened: make(chan func(context.Context) (*websocket.Conn, error), 1)}
	startAgent(t, fs, func(o *Options) { o.Sessions = sessions })
	<-sessions.running
	sc := fs.next(t)
	sc.handshake(t, time.Minute)

	open := func(id string, expires time.Time) protocol.Result {
		t.Helper()
		args, _ := json.Marshal(protocol.SessionOpen{SessionID: id, Kind: protocol.SessionTerminal, Path: protocol.RelayPath + id,
			Token: "tok-" + id, Expires: expires, Cols: 80, Rows: 24})
		sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: "session-" + id, Name: protocol.CommandSessionOpen, Args: args})
		var r protocol.Result
		if err := json.Unmarshal(sc.expect(t, protocol.TypeResult).Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := open("s1", time.Now().Add(30*time.Second)); r.Status != protocol.ResultOK {
		t.Fatalf("session_open result %+v, want ok", r)
	}
	dial := <-sessions.opened
	c, err := dial(t.Context())
	if err != nil {
		t.Fatalf("dial the relay: %v", err)
	}
	c.CloseNow()
	got := <-relayed
	want := seen{protocol.RelayPath + "s1", protocol.FormatCredential(testAgentID, testSecret), "tok-s1"}
	if got != want {
		t.Errorf("relay request %+v, want %+v", got, want)
	}

	if r := open("s2", time.Now().Add(-time.Second)); r.Status != protocol.ResultError {
		t.Errorf("expired session_open result %+v, want an error", r)
	}
	sessions.busy.Store(true)
	if r := open("s3", time.Now().Add(30*time.Second)); r.Status != protocol.ResultError || r.Error != "busy" {
		t.Errorf("refused session_open result %+v, want the refusal", r)
	}
}
