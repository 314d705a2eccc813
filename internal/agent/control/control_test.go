package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

const (
	testAgentID = "agent-1"
	testSecret  = "s3cret"
	waitLimit   = 5 * time.Second // upper bound for anything a test waits for
	// quiet is a heartbeat interval long enough that no heartbeat (and no
	// dead-connection verdict) happens during a test, however loaded the
	// machine.
	quiet = time.Minute
)

var testFacts = protocol.Facts{
	Hostname: "web-01", OS: "linux", Arch: "amd64",
	IPAddresses: []string{"10.0.0.5"}, Users: []string{},
}

// fakeServer is a stand-in for the gateway: each control connection is
// handed to the test as a serverConn. reject, if set, can refuse a dial
// before the upgrade (for 401s). Like a real server it reads continuously
// and, unless silent is set, answers every heartbeat at once, so slow test
// goroutines on a loaded machine do not look like a dead server.
type fakeServer struct {
	srv    *httptest.Server
	conns  chan *serverConn
	closed chan struct{}
	dials  atomic.Int32
	silent atomic.Bool
	reject func(n int32, w http.ResponseWriter) bool
	wg     sync.WaitGroup // handlers, which outlive hijacking
	// upload, if set, serves protocol.InventoryPath.
	upload atomic.Pointer[http.HandlerFunc]
	// relay, if set, serves protocol.RelayPath.
	relay atomic.Pointer[http.HandlerFunc]
}

type serverConn struct {
	conn *websocket.Conn
	auth string
	msgs chan readResult // everything the agent sent, then the read error
}

type readResult struct {
	env protocol.Envelope
	err error
}

func newFakeServer(t *testing.T, reject func(n int32, w http.ResponseWriter) bool) *fakeServer {
	t.Helper()
	fs := &fakeServer{conns: make(chan *serverConn, 100), closed: make(chan struct{}), reject: reject}
	var mu sync.Mutex
	var all []*serverConn
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.wg.Add(1)
		defer fs.wg.Done()
		if h := fs.upload.Load(); h != nil && r.URL.Path == protocol.InventoryPath {
			(*h)(w, r)
			return
		}
		if h := fs.relay.Load(); h != nil && strings.HasPrefix(r.URL.Path, protocol.RelayPath) {
			(*h)(w, r)
			return
		}
		n := fs.dials.Add(1)
		if r.URL.Path != protocol.ConnectPath {
			t.Errorf("dial path got %q, want %q", r.URL.Path, protocol.ConnectPath)
		}
		if fs.reject != nil && fs.reject(n, w) {
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		conn.SetReadLimit(-1)
		sc := &serverConn{conn: conn, auth: r.Header.Get("Authorization"), msgs: make(chan readResult, 1000)}
		mu.Lock()
		all = append(all, sc)
		mu.Unlock()
		select {
		case fs.conns <- sc:
		case <-fs.closed:
			conn.CloseNow()
			return
		}
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				sc.msgs <- readResult{err: err}
				return
			}
			env, err := protocol.DecodeEnvelope(b)
			if err != nil {
				sc.msgs <- readResult{err: fmt.Errorf("agent sent an invalid envelope %q: %w", b, err)}
				return
			}
			if env.Type == protocol.TypeHeartbeat && !fs.silent.Load() {
				if b, err := protocol.Encode(protocol.TypeHeartbeat, "", protocol.Heartbeat{Time: time.Now()}); err == nil {
					conn.Write(context.Background(), websocket.MessageText, b)
				}
			}
			sc.msgs <- readResult{env: env}
		}
	}))
	t.Cleanup(func() {
		close(fs.closed)
		mu.Lock()
		for _, sc := range all {
			sc.conn.CloseNow()
		}
		mu.Unlock()
		fs.srv.Close()
		fs.wg.Wait()
	})
	return fs
}

// next waits for the agent's next connection.
func (fs *fakeServer) next(t *testing.T) *serverConn {
	t.Helper()
	select {
	case sc := <-fs.conns:
		return sc
	case <-time.After(waitLimit):
		t.Fatal("agent did not connect")
		return nil
	}
}

func (sc *serverConn) read(t *testing.T) (protocol.Envelope, error) {
	t.Helper()
	select {
	case r := <-sc.msgs:
		return r.env, r.err
	case <-time.After(waitLimit):
		t.Fatal("agent sent nothing")
		return protocol.Envelope{}, nil
	}
}

func (sc *serverConn) expect(t *testing.T, typ string) protocol.Envelope {
	t.Helper()
	env, err := sc.read(t)
	if err != nil {
		t.Fatalf("reading %s: %v", typ, err)
	}
	if env.Type != typ {
		t.Fatalf("agent sent %q, want %q", env.Type, typ)
	}
	return env
}

func (sc *serverConn) send(t *testing.T, typ string, payload any) {
	t.Helper()
	b, err := protocol.Encode(typ, "", payload)
	if err != nil {
		t.Fatal(err)
	}
	sc.sendRaw(t, b)
}

func (sc *serverConn) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	if err := sc.conn.Write(t.Context(), websocket.MessageText, b); err != nil {
		t.Fatalf("server write: %v", err)
	}
}

// expectNothing fails if the agent has sent anything not yet read, or the
// connection has ended.
func (sc *serverConn) expectNothing(t *testing.T) {
	t.Helper()
	select {
	case r := <-sc.msgs:
		t.Fatalf("agent sent %q (err %v), want nothing", r.env.Type, r.err)
	default:
	}
}

// handshake reads hello and answers welcome.
func (sc *serverConn) handshake(t *testing.T, interval time.Duration) protocol.Facts {
	t.Helper()
	env := sc.expect(t, protocol.TypeHello)
	f, err := protocol.DecodeFacts(env.Data)
	if err != nil {
		t.Fatalf("hello facts: %v", err)
	}
	sc.send(t, protocol.TypeWelcome, protocol.Welcome{
		AgentID: testAgentID, ProtocolVersion: protocol.Version, ServerVersion: "test",
		HeartbeatInterval: protocol.Duration(interval), ServerTime: time.Now(),
	})
	return f
}

// expectClose reads until the agent's close frame and returns its code,
// skipping heartbeats.
func (sc *serverConn) expectClose(t *testing.T) websocket.StatusCode {
	t.Helper()
	for {
		env, err := sc.read(t)
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if env.Type != protocol.TypeHeartbeat {
			t.Fatalf("agent sent %q while a close was expected", env.Type)
		}
	}
}

// agent runs a Client against fs until the test ends.
type agent struct {
	logs     *syncBuffer
	mu       sync.Mutex
	statuses []Status
	ceilings []time.Duration
	done     chan error
	cancel   context.CancelFunc
	client   *Client
}

func startAgent(t *testing.T, fs *fakeServer, modify func(*Options)) *agent {
	t.Helper()
	a := &agent{logs: &syncBuffer{}, done: make(chan error, 1)}
	opts := Options{
		ServerURLs:   []string{fs.srv.URL},
		AgentID:      testAgentID,
		AgentSecret:  testSecret,
		Facts:        func(context.Context) (protocol.Facts, error) { return testFacts, nil },
		Log:          slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffBase:  time.Millisecond,
		BackoffCap:   5 * time.Millisecond,
		MinHeartbeat: time.Millisecond,
		// Record the backoff ceilings; a zero delay keeps tests fast.
		Rand: func(n int64) int64 {
			a.mu.Lock()
			a.ceilings = append(a.ceilings, time.Duration(n))
			a.mu.Unlock()
			return 0
		},
		OnStatus: func(s Status) {
			a.mu.Lock()
			a.statuses = append(a.statuses, s)
			a.mu.Unlock()
		},
	}
	if modify != nil {
		modify(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	a.cancel, a.client = cancel, c
	go func() { a.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs.String())
		}
	})
	return a
}

// stop cancels the agent (if not yet) and checks Run returns nil promptly.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	a.cancel()
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("Run got %v, want nil", err)
		}
		a.done <- err // for the cleanup
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancel")
	}
}

func (a *agent) waitStatus(t *testing.T, what string, pred func([]Status) bool) []Status {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		a.mu.Lock()
		s := slices.Clone(a.statuses)
		a.mu.Unlock()
		if pred(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; statuses: %+v", what, s)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (a *agent) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(a.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q", want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func connectedCount(n int) func([]Status) bool {
	return func(s []Status) bool {
		c := 0
		for _, st := range s {
			if st.Connected {
				c++
			}
		}
		return c >= n
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHandshakeHeartbeatsAndShutdown(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, nil)
	sc := fs.next(t)

	if want := protocol.FormatCredential(testAgentID, testSecret); sc.auth != want {
		t.Errorf("Authorization got %q, want %q", sc.auth, want)
	}
	const interval = 150 * time.Millisecond
	welcomeSent := time.Now()
	hello := sc.handshake(t, interval)
	if diff := cmp.Diff(testFacts, hello); diff != "" {
		t.Errorf("hello facts (-want +got):\n%s", diff)
	}
	a.waitStatus(t, "connected", connectedCount(1))

	for i := range 3 {
		env := sc.expect(t, protocol.TypeHeartbeat)
		hb, err := protocol.DecodeHeartbeat(env.Data)
		if err != nil || hb.Time.IsZero() {
			t.Fatalf("heartbeat %d: got %+v, %v; want a time", i, hb, err)
		}
		// The ticker starts on welcome; it may fire late under load, never
		// early.
		if earliest := welcomeSent.Add(time.Duration(i+1) * interval); hb.Time.Before(earliest) {
			t.Errorf("heartbeat %d sent at +%v, want no earlier than +%v", i, hb.Time.Sub(welcomeSent), earliest.Sub(welcomeSent))
		}
	}

	// The server keeps reading, as a real one does, so the agent's close
	// handshake completes; stop fails the test if Run has not returned
	// within waitLimit.
	a.cancel()
	if got := sc.expectClose(t); got != websocket.StatusNormalClosure {
		t.Errorf("close status got %v, want %v", got, websocket.StatusNormalClosure)
	}
	a.stop(t)
	if n := fs.dials.Load(); n != 1 {
		t.Errorf("agent dialed %d times, want 1", n)
	}
}

func TestReconnectAfterServerDrop(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, nil)

	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	sc.conn.CloseNow() // abrupt: no close frame

	fs.next(t).handshake(t, quiet)
	got := a.waitStatus(t, "reconnected", connectedCount(2))

	if len(got) != 3 || !got[0].Connected || got[1].Connected || got[1].LastError == "" || !got[2].Connected {
		t.Errorf("statuses got %+v, want connected, disconnected with an error, connected", got)
	}
	if got[2].LastError != "" {
		t.Errorf("connected status has LastError %q, want none", got[2].LastError)
	}
}

func TestRejectedSecretThenAccepted(t *testing.T) {
	fs := newFakeServer(t, func(n int32, w http.ResponseWriter) bool {
		if n > 3 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: "unknown agent"})
		return true
	})
	a := startAgent(t, fs, nil)

	fs.next(t).handshake(t, quiet)
	got := a.waitStatus(t, "connected", connectedCount(1))

	if n := fs.dials.Load(); n != 4 {
		t.Errorf("agent dialed %d times, want 4 (3 rejected)", n)
	}
	want := "agent secret rejected by server (HTTP 401): unknown agent"
	if len(got) != 2 || got[0].LastError != want || !got[1].Connected {
		t.Errorf("statuses got %+v, want one error %q then connected", got, want)
	}
	if logs := a.logs.String(); strings.Count(logs, "server rejected the agent secret") != 3 {
		t.Errorf("log does not explain each rejection:\n%s", logs)
	}
	a.mu.Lock()
	ceilings := slices.Clone(a.ceilings)
	a.mu.Unlock()
	if diff := cmp.Diff([]time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}, ceilings); diff != "" {
		t.Errorf("backoff ceilings (-want +got):\n%s", diff)
	}
}

func TestBackoffResetsAfterHealthyConnection(t *testing.T) {
	fs := newFakeServer(t, func(n int32, w http.ResponseWriter) bool {
		if n == 4 || n == 6 {
			return false // accept
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	a := startAgent(t, fs, func(o *Options) {
		o.BackoffCap = time.Second
		o.ResetAfter = 50 * time.Millisecond
	})

	// Dials 1-3 fail, 4 connects and stays up past ResetAfter, 5 fails,
	// 6 connects.
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	time.Sleep(60 * time.Millisecond)
	sc.conn.CloseNow()
	fs.next(t).handshake(t, quiet)
	a.waitStatus(t, "reconnected", connectedCount(2))

	a.mu.Lock()
	ceilings := slices.Clone(a.ceilings)
	a.mu.Unlock()
	ms := time.Millisecond
	// After the healthy connection the sequence starts over at the base.
	if diff := cmp.Diff([]time.Duration{ms, 2 * ms, 4 * ms, ms, 2 * ms}, ceilings); diff != "" {
		t.Errorf("backoff ceilings (-want +got):\n%s", diff)
	}
}

func TestReplacedBacksOff(t *testing.T) {
	const replacedDelay = 200 * time.Millisecond
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, func(o *Options) { o.ReplacedDelay = replacedDelay })

	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	closed := time.Now()
	sc.conn.Close(protocol.CloseReplaced, "replaced by a newer connection")

	fs.next(t).handshake(t, quiet)
	if gap := time.Since(closed); gap < replacedDelay {
		t.Errorf("agent reconnected %v after being replaced, want at least %v", gap, replacedDelay)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "another copy of this agent identity") {
		t.Errorf("log does not warn about the replaced connection:\n%s", logs)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))

	envelopeOfSize := func(n int) []byte {
		prefix, suffix := `{"type":"future_bulk","data":"`, `"}`
		return []byte(prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix)
	}
	// Exactly at the limit: accepted (and ignored as an unknown type).
	sc.sendRaw(t, envelopeOfSize(protocol.MaxMessageBytes))
	a.waitLog(t, "type=future_bulk")
	// One byte over: the agent closes with MessageTooBig and reconnects.
	sc.sendRaw(t, envelopeOfSize(protocol.MaxMessageBytes+1))
	if got := sc.expectClose(t); got != websocket.StatusMessageTooBig {
		t.Errorf("close status got %v, want %v", got, websocket.StatusMessageTooBig)
	}
	fs.next(t).expect(t, protocol.TypeHello)
}

func TestSilentServerIsDead(t *testing.T) {
	t.Run("after welcome", func(t *testing.T) {
		const interval = 20 * time.Millisecond
		fs := newFakeServer(t, nil)
		fs.silent.Store(true)
		a := startAgent(t, fs, nil)
		fs.next(t).handshake(t, interval)
		welcomed := time.Now()
		fs.next(t).expect(t, protocol.TypeHello)
		if gap := time.Since(welcomed); gap < 3*interval {
			t.Errorf("agent gave up after %v of silence, want at least %v", gap, 3*interval)
		}
		s := a.waitStatus(t, "disconnect", func(s []Status) bool { return len(s) >= 2 })
		if !strings.Contains(s[1].LastError, "nothing received from server for 60ms") {
			t.Errorf("LastError got %q, want a silence error", s[1].LastError)
		}
	})
	t.Run("no welcome", func(t *testing.T) {
		fs := newFakeServer(t, nil)
		a := startAgent(t, fs, func(o *Options) { o.HandshakeTimeout = 100 * time.Millisecond })
		// The server reads hello and never answers.
		a.waitStatus(t, "no-welcome error", func(s []Status) bool {
			return slices.ContainsFunc(s, func(s Status) bool {
				return s.LastError == "no welcome from server within 100ms"
			})
		})
	})
}

func TestUnknownAndErrorMessagesKeepConnection(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))

	sc.sendRaw(t, []byte(`{"type":"from_the_future","id":"9","data":{"x":1}}`))
	sc.send(t, protocol.TypeError, protocol.Error{Code: protocol.CodeBadMessage, Message: "facts rejected", RefID: "3"})
	sc.sendRaw(t, []byte(`not json`))
	for _, want := range []string{
		`msg="ignoring unknown message type" type=from_the_future`,
		`msg="server reported an error" code=bad_message message="facts rejected" ref_id=3`,
		`msg="ignoring malformed message from server"`,
	} {
		a.waitLog(t, want)
	}
	// Still the same, live connection.
	sc.expectNothing(t)
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := fs.dials.Load(); n != 1 || len(a.statuses) != 1 {
		t.Errorf("agent dialed %d times with statuses %+v, want 1 dial, connected", n, a.statuses)
	}
}

func TestFactsSentOnChange(t *testing.T) {
	var changed atomic.Bool
	var calls atomic.Int32
	fs := newFakeServer(t, nil)
	startAgent(t, fs, func(o *Options) {
		o.FactsInterval = 5 * time.Millisecond
		o.Facts = func(context.Context) (protocol.Facts, error) {
			calls.Add(1)
			f := testFacts
			if changed.Load() {
				f.Users = []string{"alice"}
			}
			return f, nil
		}
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	waitChecks := func(n int32) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for want := calls.Load() + n; calls.Load() < want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("facts were not checked %d more times", n)
			}
		}
	}

	// Unchanged facts are checked but not sent.
	waitChecks(3)
	sc.expectNothing(t)

	changed.Store(true)
	f, err := protocol.DecodeFacts(sc.expect(t, protocol.TypeFacts).Data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alice"}, f.Users); diff != "" {
		t.Errorf("facts users (-want +got):\n%s", diff)
	}

	// Sent once, not on every check.
	waitChecks(3)
	sc.expectNothing(t)
}

// TestCheckFacts: CheckFacts sends changed facts at once, long before the
// facts interval.
func TestCheckFacts(t *testing.T) {
	var changed atomic.Bool
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, func(o *Options) {
		o.FactsInterval = time.Hour
		o.Facts = func(context.Context) (protocol.Facts, error) {
			f := testFacts
			if changed.Load() {
				f.Trays = []protocol.TrayInfo{{User: "alice", Session: "2", Version: "1.2.0"}}
			}
			return f, nil
		}
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))

	a.client.CheckFacts() // unchanged: nothing sent
	sc.expectNothing(t)
	changed.Store(true)
	a.client.CheckFacts()
	a.client.CheckFacts() // asks do not pile up
	f, err := protocol.DecodeFacts(sc.expect(t, protocol.TypeFacts).Data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]protocol.TrayInfo{{User: "alice", Session: "2", Version: "1.2.0"}}, f.Trays); diff != "" {
		t.Errorf("facts trays (-want +got):\n%s", diff)
	}
	sc.expectNothing(t)
}

func TestShutdownWhileBackingOff(t *testing.T) {
	fs := newFakeServer(t, func(_ int32, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	a := startAgent(t, fs, func(o *Options) {
		o.BackoffBase = time.Hour
		o.BackoffCap = time.Hour
		o.Rand = nil
	})
	a.waitStatus(t, "failure", func(s []Status) bool { return len(s) == 1 })
	// stop fails the test unless Run returns within waitLimit, an instant
	// of the hour it is backing off for.
	a.stop(t)
	if n := fs.dials.Load(); n != 1 {
		t.Errorf("agent dialed %d times, want 1", n)
	}
}

func TestConnectURL(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "http://localhost:8080", want: "ws://localhost:8080/agent/v1/connect"},
		{in: "https://rmm.example.com", want: "wss://rmm.example.com/agent/v1/connect"},
		{in: "https://example.com/steward/", want: "wss://example.com/steward/agent/v1/connect"},
		{in: "ftp://example.com", wantErr: "scheme must be http or https"},
		{in: "https://", wantErr: "missing host"},
	}
	for _, tt := range tests {
		got, err := connectURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("connectURL(%q) got (%q, %v), want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("connectURL(%q) got (%q, %v), want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	facts := func(context.Context) (protocol.Facts, error) { return testFacts, nil }
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		opts Options
	}{
		{"no url", Options{AgentID: "a", AgentSecret: "s", Facts: facts, Log: log}},
		{"bad url", Options{ServerURLs: []string{"nope"}, AgentID: "a", AgentSecret: "s", Facts: facts, Log: log}},
		{"bad second url", Options{ServerURLs: []string{"https://x", "ftp://y"}, AgentID: "a", AgentSecret: "s", Facts: facts, Log: log}},
		{"no secret", Options{ServerURLs: []string{"https://x"}, AgentID: "a", Facts: facts, Log: log}},
		{"no facts", Options{ServerURLs: []string{"https://x"}, AgentID: "a", AgentSecret: "s", Log: log}},
		{"no log", Options{ServerURLs: []string{"https://x"}, AgentID: "a", AgentSecret: "s", Facts: facts}},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts); err == nil {
			t.Errorf("New(%s) got nil error, want one", tt.name)
		}
	}
}

func TestHeartbeatInterval(t *testing.T) {
	c, err := New(Options{ServerURLs: []string{"https://x"}, AgentID: "a", AgentSecret: "s",
		Facts: func(context.Context) (protocol.Facts, error) { return testFacts, nil }, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want time.Duration }{
		{0, DefaultHeartbeat},
		{time.Millisecond, DefaultMinHeartbeat},
		{45 * time.Second, 45 * time.Second},
	}
	for _, tt := range tests {
		if got := c.heartbeatInterval(protocol.Welcome{HeartbeatInterval: protocol.Duration(tt.in)}); got != tt.want {
			t.Errorf("heartbeatInterval(%v) got %v, want %v", tt.in, got, tt.want)
		}
	}
}

// closedURL returns the URL of a server that has gone away: connections to
// it are refused.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// lastStatus returns the newest status reported.
func (a *agent) lastStatus() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.statuses) == 0 {
		return Status{}
	}
	return a.statuses[len(a.statuses)-1]
}

// TestFailover connects to the first of two replicas, which then goes away
// and refuses new connections: the agent is on the second within about a
// second, with real jitter and a backoff so long that only the failover path
// can explain it.
func TestFailover(t *testing.T) {
	tests := []struct {
		name string
		drop func(*websocket.Conn)
	}{
		{"shutdown", func(c *websocket.Conn) { c.Close(protocol.CloseShutdown, "server shutting down") }},
		{"abrupt drop", func(c *websocket.Conn) { c.CloseNow() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second := newFakeServer(t, nil), newFakeServer(t, nil)
			a := startAgent(t, first, func(o *Options) {
				o.ServerURLs = []string{first.srv.URL, second.srv.URL}
				o.BackoffBase, o.BackoffCap = time.Hour, time.Hour
				o.Rand = nil
			})
			sc := first.next(t)
			sc.handshake(t, quiet)
			a.waitStatus(t, "connected", connectedCount(1))
			if got := a.lastStatus().ServerURL; got != first.srv.URL {
				t.Errorf("connected status ServerURL got %q, want %q", got, first.srv.URL)
			}

			// next fails the test unless the agent dials within waitLimit,
			// an instant of its hour-long backoff.
			tt.drop(sc.conn)
			first.srv.Close()
			second.next(t).handshake(t, quiet)
			a.waitStatus(t, "connected again", connectedCount(2))
			if got := a.lastStatus().ServerURL; got != second.srv.URL {
				t.Errorf("connected status ServerURL got %q, want %q", got, second.srv.URL)
			}
			a.waitLog(t, `msg="connected to server" server=`+second.srv.URL)
			if n := first.dials.Load(); n != 1 {
				t.Errorf("agent dialed the first server %d times, want 1", n)
			}
		})
	}
}

// TestShutdownSingleServer: a lone server that restarts is retried soon,
// not after the backoff.
func TestShutdownSingleServer(t *testing.T) {
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, func(o *Options) {
		o.BackoffBase, o.BackoffCap = time.Hour, time.Hour
		o.Rand = nil
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	// next fails the test unless the agent dials again within waitLimit,
	// an instant of its hour-long backoff.
	sc.conn.Close(protocol.CloseShutdown, "server restarting")
	fs.next(t).handshake(t, quiet)
	a.waitLog(t, `msg="server is shutting down"`)
}

func TestRotationWhenFirstDown(t *testing.T) {
	const failover = 100 * time.Millisecond
	dead := closedURL(t)
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, func(o *Options) {
		o.ServerURLs = []string{dead, fs.srv.URL}
		o.FailoverDelay = failover
	})
	fs.next(t).handshake(t, quiet)
	got := a.waitStatus(t, "connected", connectedCount(1))

	if len(got) != 2 || got[0].Connected || got[0].ServerURL != dead || got[0].LastError == "" ||
		!got[1].Connected || got[1].ServerURL != fs.srv.URL {
		t.Errorf("statuses got %+v, want an error from %s, then connected to %s", got, dead, fs.srv.URL)
	}
	a.mu.Lock()
	ceilings := slices.Clone(a.ceilings)
	a.mu.Unlock()
	// Moving on within the cycle takes the short failover delay, not the
	// backoff.
	if diff := cmp.Diff([]time.Duration{failover}, ceilings); diff != "" {
		t.Errorf("delay ceilings (-want +got):\n%s", diff)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "server="+dead) || !strings.Contains(logs, "next_server="+fs.srv.URL) {
		t.Errorf("log does not name the failed and the next server:\n%s", logs)
	}
}

func TestBackoffAfterFullCycle(t *testing.T) {
	const failover = 100 * time.Millisecond
	var mu sync.Mutex
	var order []string
	unavailable := func(name string) func(int32, http.ResponseWriter) bool {
		return func(_ int32, w http.ResponseWriter) bool {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
	}
	first, second := newFakeServer(t, unavailable("first")), newFakeServer(t, unavailable("second"))
	a := startAgent(t, first, func(o *Options) {
		o.ServerURLs = []string{first.srv.URL, second.srv.URL}
		o.FailoverDelay = failover
		o.BackoffCap = time.Second
	})
	// Seven dials: the delay after the sixth has been drawn.
	deadline := time.Now().Add(waitLimit)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent dialed %d times, want 7", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	a.stop(t)

	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"first", "second", "first", "second", "first", "second"}, order[:6]); diff != "" {
		t.Errorf("dial order (-want +got):\n%s", diff)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ms := time.Millisecond
	// Within a cycle the failover delay; after each full cycle the backoff,
	// growing.
	want := []time.Duration{failover, ms, failover, 2 * ms, failover, 4 * ms}
	if diff := cmp.Diff(want, a.ceilings[:6]); diff != "" {
		t.Errorf("delay ceilings (-want +got):\n%s", diff)
	}
}

// policyRecorder is an OnPolicy that records its calls and fails for the
// revisions in fail.
type policyRecorder struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]bool
}

func (r *policyRecorder) onPolicy(_ context.Context, p protocol.PolicyUpdate) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, p.Revision)
	if r.fail[p.Revision] {
		return fmt.Errorf("cannot apply %s", p.Revision)
	}
	return nil
}

func (r *policyRecorder) revisions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func testPolicy(rev string) protocol.PolicyUpdate {
	return protocol.PolicyUpdate{Revision: rev, Policy: json.RawMessage(`{"metrics":{"interval":"60s"}}`)}
}

// expectAck reads the agent's next message, which must acknowledge rev.
func (sc *serverConn) expectAck(t *testing.T, rev string) {
	t.Helper()
	env := sc.expect(t, protocol.TypePolicyAck)
	ack, err := protocol.DecodePolicyAck(env.Data)
	if err != nil {
		t.Fatalf("policy_ack: %v", err)
	}
	if ack.Revision != rev {
		t.Errorf("policy_ack revision got %q, want %q", ack.Revision, rev)
	}
}

// ping sends a ping command and expects its result next: everything the
// agent did with earlier messages has been sent by then.
func (sc *serverConn) ping(t *testing.T, id string) {
	t.Helper()
	sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: id, Name: protocol.CommandPing})
	env := sc.expect(t, protocol.TypeResult)
	var r protocol.Result
	if err := json.Unmarshal(env.Data, &r); err != nil || r.CommandID != id {
		t.Fatalf("result got %s (%v), want one for %s", env.Data, err, id)
	}
}

func TestPolicy(t *testing.T) {
	fs := newFakeServer(t, nil)
	rec := &policyRecorder{fail: map[string]bool{"r-bad": true}}
	a := startAgent(t, fs, func(o *Options) { o.OnPolicy = rec.onPolicy })
	sc := fs.next(t)

	sc.expect(t, protocol.TypeHello)
	p1 := testPolicy("r1")
	sc.send(t, protocol.TypeWelcome, protocol.Welcome{
		AgentID: testAgentID, ProtocolVersion: protocol.Version,
		HeartbeatInterval: protocol.Duration(quiet), Policy: &p1,
	})
	sc.expectAck(t, "r1")

	sc.send(t, protocol.TypePolicy, testPolicy("r2"))
	sc.expectAck(t, "r2")

	// The same revision again: acknowledged, not applied again.
	sc.send(t, protocol.TypePolicy, testPolicy("r2"))
	sc.expectAck(t, "r2")

	// Refused by OnPolicy: no ack.
	sc.send(t, protocol.TypePolicy, testPolicy("r-bad"))
	sc.ping(t, "c1")
	a.waitLog(t, "cannot apply policy")

	// Malformed: no ack, and the connection stays up.
	for _, raw := range []string{
		`{"type":"policy","data":{"revision":"","policy":{}}}`,
		`{"type":"policy","data":{"revision":"r3","policy":[1]}}`,
		`{"type":"policy","data":{"revision":"r3"}}`,
		`{"type":"policy","data":"r3"}`,
	} {
		sc.sendRaw(t, []byte(raw))
	}
	sc.ping(t, "c2")
	a.waitLog(t, "ignoring malformed policy")

	// The revision in force is still r2: a refused policy changes nothing.
	sc.send(t, protocol.TypePolicy, testPolicy("r2"))
	sc.expectAck(t, "r2")
	sc.expectNothing(t)

	if diff := cmp.Diff([]string{"r1", "r2", "r-bad"}, rec.revisions()); diff != "" {
		t.Errorf("OnPolicy calls (-want +got):\n%s", diff)
	}
	if n := fs.dials.Load(); n != 1 {
		t.Errorf("agent dialed %d times, want 1", n)
	}
}

func TestPolicyAcrossReconnects(t *testing.T) {
	fs := newFakeServer(t, nil)
	rec := &policyRecorder{}
	a := startAgent(t, fs, func(o *Options) {
		o.OnPolicy = rec.onPolicy
		o.PolicyRevision = "r1" // saved by a previous run
	})
	welcome := func(sc *serverConn, rev string) {
		sc.expect(t, protocol.TypeHello)
		p := testPolicy(rev)
		sc.send(t, protocol.TypeWelcome, protocol.Welcome{
			AgentID: testAgentID, ProtocolVersion: protocol.Version,
			HeartbeatInterval: protocol.Duration(quiet), Policy: &p,
		})
		sc.expectAck(t, rev)
	}

	sc := fs.next(t)
	welcome(sc, "r1") // in force already: acked, not applied
	sc.conn.CloseNow()
	sc = fs.next(t)
	welcome(sc, "r2")
	sc.conn.CloseNow()
	sc = fs.next(t)
	welcome(sc, "r2")

	// Without OnPolicy, every policy is accepted.
	a.stop(t)
	startAgent(t, fs, nil)
	welcome(fs.next(t), "r3")

	if diff := cmp.Diff([]string{"r2"}, rec.revisions()); diff != "" {
		t.Errorf("OnPolicy calls (-want +got):\n%s", diff)
	}
}

func TestMalformedPolicyInWelcome(t *testing.T) {
	fs := newFakeServer(t, nil)
	rec := &policyRecorder{}
	a := startAgent(t, fs, func(o *Options) { o.OnPolicy = rec.onPolicy })
	sc := fs.next(t)

	sc.expect(t, protocol.TypeHello)
	sc.sendRaw(t, fmt.Appendf(nil, `{"type":"welcome","data":{"agent_id":%q,"protocol_version":%d,"policy":{"revision":"r1","policy":"not an object"}}}`,
		testAgentID, protocol.Version))
	a.waitStatus(t, "connected", connectedCount(1))
	sc.ping(t, "c1") // no ack before the result
	a.waitLog(t, "ignoring malformed policy")
	if got := rec.revisions(); len(got) != 0 {
		t.Errorf("OnPolicy called for %q, want not at all", got)
	}
}
