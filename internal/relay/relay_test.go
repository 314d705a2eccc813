package relay_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/relay"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// fakeAgents records the session_open commands instead of sending them.
type fakeAgents struct {
	mu      sync.Mutex
	opens   []protocol.SessionOpen
	offline bool
}

func (f *fakeAgents) SendCommand(_ context.Context, agentID string, cmd protocol.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.offline {
		return relay.ErrOffline
	}
	o, err := protocol.DecodeSessionOpen(cmd.Args)
	if err != nil {
		return err
	}
	f.opens = append(f.opens, o)
	return nil
}

func (f *fakeAgents) last(t *testing.T) protocol.SessionOpen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.opens) == 0 {
		t.Fatal("no session_open sent")
	}
	return f.opens[len(f.opens)-1]
}

type harness struct {
	db      *store.DB
	rl      *relay.Relay
	agents  *fakeAgents
	srv     *httptest.Server
	agentID string
	tech    access.Principal
}

// newHarness serves the relay's two sides on a test server: /agent/{id}
// as the agent named by the X-Agent header, /browser/{id} as tech.
func newHarness(t *testing.T, opts relay.Options) *harness {
	t.Helper()
	db := storetest.Open(t, store.Options{DataDir: t.TempDir()})
	ctx := t.Context()
	m := manage.New(db)
	c, err := m.CreateClient(ctx, access.Console(), "Acme")
	if err != nil {
		t.Fatal(err)
	}
	site, err := m.CreateSite(ctx, access.Console(), c.ID, "HQ")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := m.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: auth.HashSecret("s"), Facts: servertest.Facts("pc1"), IP: "10.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{db: db, agents: &fakeAgents{}, agentID: agent.ID,
		tech: access.Principal{User: store.User{ID: "u-tech", Email: "tech@example.com", Role: store.RoleTechnician}, Via: "session"}}
	h.rl = relay.New(db, h.agents, slog.New(slog.DiscardHandler), opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agent/{id}", func(w http.ResponseWriter, r *http.Request) {
		h.rl.ServeAgent(w, r, r.Header.Get("X-Agent"), r.PathValue("id"), r.Header.Get(protocol.RelayTokenHeader))
	})
	mux.HandleFunc("GET /browser/{id}", func(w http.ResponseWriter, r *http.Request) {
		p := h.tech
		if u := r.Header.Get("X-User"); u != "" {
			p.User.ID = u
		}
		h.rl.ServeBrowser(w, r, p, r.PathValue("id"), r.URL.Query().Get("token"))
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		h.rl.Close(context.Background())
		h.srv.Close()
	})
	return h
}

func (h *harness) open(t *testing.T) (relay.Opened, protocol.SessionOpen) {
	t.Helper()
	o, err := h.rl.Open(t.Context(), h.tech, relay.Request{AgentID: h.agentID, Kind: protocol.SessionTerminal})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return o, h.agents.last(t)
}

func (h *harness) dialAgent(t *testing.T, agentID, session, token string) (*websocket.Conn, int) {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/agent/"+session, &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Agent": {agentID}, protocol.RelayTokenHeader: {token}},
	})
	return conn(t, c, resp, err)
}

func (h *harness) dialBrowser(t *testing.T, o relay.Opened, user string) (*websocket.Conn, int) {
	t.Helper()
	_, query, _ := strings.Cut(o.BrowserURL, "?")
	c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/browser/"+o.ID+"?"+query, &websocket.DialOptions{
		HTTPHeader: http.Header{"X-User": {user}},
	})
	return conn(t, c, resp, err)
}

func conn(t *testing.T, c *websocket.Conn, resp *http.Response, err error) (*websocket.Conn, int) {
	t.Helper()
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	c.SetReadLimit(protocol.MaxFrameBytes)
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols
}

func readFrame(t *testing.T, c *websocket.Conn) protocol.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), servertest.Wait)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	f, err := protocol.DecodeFrame(b)
	if err != nil {
		t.Fatalf("decode frame: %v", err)
	}
	return f
}

// drain reads c until it closes, so the relay's close handshake is
// answered at once.
func drain(cs ...*websocket.Conn) {
	for _, c := range cs {
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
}

func write(t *testing.T, c *websocket.Conn, b []byte) {
	t.Helper()
	if err := c.Write(t.Context(), websocket.MessageBinary, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// endOf waits for the session's session.end audit entry.
func endOf(t *testing.T, db *store.DB, id string) store.AuditEntry {
	t.Helper()
	return servertest.Poll(t, "session.end of "+id, func() store.AuditEntry {
		es, _, err := db.ListAudit(context.Background(), store.AuditFilter{Action: "session.end"}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Detail["session_id"] == id {
				return e
			}
		}
		return store.AuditEntry{}
	}, func(e store.AuditEntry) bool { return e.Action != "" })
}

func TestSpliceBothWays(t *testing.T) {
	h := newHarness(t, relay.Options{})
	o, open := h.open(t)
	if open.Path != protocol.RelayPath+o.ID || open.Cols != 80 || open.Rows != 24 {
		t.Errorf("session_open = %+v, want the relay path and 80x24", open)
	}
	b, st := h.dialBrowser(t, o, "")
	if st != http.StatusSwitchingProtocols {
		t.Fatalf("browser dial: status %d", st)
	}
	a, st := h.dialAgent(t, h.agentID, o.ID, open.Token)
	if st != http.StatusSwitchingProtocols {
		t.Fatalf("agent dial: status %d", st)
	}
	write(t, b, protocol.DataFrame([]byte("echo hello\r")))
	if f := readFrame(t, a); string(f.Data) != "echo hello\r" {
		t.Errorf("agent got %q, want the keystrokes", f.Data)
	}
	write(t, b, protocol.ResizeFrame(132, 43))
	if f := readFrame(t, a); f.Type != protocol.FrameResize || f.Cols != 132 || f.Rows != 43 {
		t.Errorf("agent got %+v, want resize 132x43", f)
	}
	write(t, a, protocol.DataFrame([]byte("hello\r\n")))
	if f := readFrame(t, b); string(f.Data) != "hello\r\n" {
		t.Errorf("browser got %q, want the output", f.Data)
	}
	if got := len(mustList(t, h)); got != 1 {
		t.Errorf("live sessions = %d, want 1", got)
	}
	// The agent's shell exits: the browser learns why, the end is audited.
	write(t, a, protocol.CloseFrame("shell exited"))
	if f := readFrame(t, b); f.Type != protocol.FrameClose || !strings.Contains(f.Reason, "shell exited") {
		t.Errorf("browser got %+v, want a close frame naming the shell's exit", f)
	}
	drain(a, b)
	e := endOf(t, h.db, o.ID)
	if e.Detail["bytes_to_agent"] != "11" || e.Detail["bytes_to_browser"] != "7" || e.ActorName != "tech@example.com" {
		t.Errorf("session.end = %+v, want 11 bytes to the agent, 7 to the browser, by the technician", e)
	}
	row, err := h.db.RemoteSession(t.Context(), o.ID)
	if err != nil || row.EndedAt.IsZero() || row.BytesToAgent != 11 || row.BytesToBrowser != 7 {
		t.Errorf("remote_sessions row = %+v, %v; want ended with the byte counts", row, err)
	}
}

func mustList(t *testing.T, h *harness) []store.RemoteSession {
	t.Helper()
	admin := access.Principal{User: store.User{Role: store.RoleAdmin}, Via: "session"}
	l, err := h.rl.List(t.Context(), admin, store.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRefusals(t *testing.T) {
	h := newHarness(t, relay.Options{})
	o, open := h.open(t)
	other, otherOpen := h.open(t)
	tests := []struct {
		name string
		dial func() int
	}{
		{"no such session", func() int { _, st := h.dialAgent(t, h.agentID, "nope", open.Token); return st }},
		{"another agent", func() int { _, st := h.dialAgent(t, "agent-x", o.ID, open.Token); return st }},
		{"another session's token", func() int { _, st := h.dialAgent(t, h.agentID, other.ID, open.Token); return st }},
		{"another user", func() int { _, st := h.dialBrowser(t, o, "u-other"); return st }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st := tt.dial(); st != http.StatusForbidden {
				t.Errorf("status %d, want 403", st)
			}
		})
	}
	t.Run("reused token", func(t *testing.T) {
		if _, st := h.dialAgent(t, h.agentID, o.ID, open.Token); st != http.StatusSwitchingProtocols {
			t.Fatalf("first use: status %d, want 101", st)
		}
		if _, st := h.dialAgent(t, h.agentID, o.ID, open.Token); st != http.StatusForbidden {
			t.Errorf("second use: status %d, want 403", st)
		}
	})
	t.Run("wrong token spends the right one", func(t *testing.T) {
		if _, st := h.dialAgent(t, h.agentID, other.ID, "guess"); st != http.StatusForbidden {
			t.Fatalf("wrong token: status %d, want 403", st)
		}
		if _, st := h.dialAgent(t, h.agentID, other.ID, otherOpen.Token); st != http.StatusForbidden {
			t.Errorf("right token after a wrong one: status %d, want 403", st)
		}
	})
}

func TestExpiredTokenRefused(t *testing.T) {
	h := newHarness(t, relay.Options{OpenTimeout: time.Millisecond})
	o, open := h.open(t)
	e := endOf(t, h.db, o.ID)
	if !strings.Contains(e.Detail["reason"], "within") {
		t.Errorf("end reason %q, want the open timeout", e.Detail["reason"])
	}
	if _, st := h.dialAgent(t, h.agentID, o.ID, open.Token); st != http.StatusForbidden {
		t.Errorf("expired token: status %d, want 403", st)
	}
}

// TestPairedOutlivesOpenTimeout: the open timeout bounds the wait for
// the sides, not the session.
func TestPairedOutlivesOpenTimeout(t *testing.T) {
	h := newHarness(t, relay.Options{OpenTimeout: 500 * time.Millisecond})
	o, open := h.open(t)
	b, _ := h.dialBrowser(t, o, "")
	a, _ := h.dialAgent(t, h.agentID, o.ID, open.Token)
	servertest.Eventually(t, "the open timeout to pass", func() bool { return time.Now().After(o.Expires.Add(200 * time.Millisecond)) })
	write(t, a, protocol.DataFrame([]byte("still here")))
	if f := readFrame(t, b); string(f.Data) != "still here" {
		t.Errorf("browser got %+v after the open timeout, want the data", f)
	}
}

func TestOpenRefusals(t *testing.T) {
	h := newHarness(t, relay.Options{MaxSessions: 1})
	readonly := access.Principal{User: store.User{ID: "u-ro", Role: store.RoleReadonly}, Via: "session"}
	if _, err := h.rl.Open(t.Context(), readonly, relay.Request{AgentID: h.agentID, Kind: "terminal"}); !errors.Is(err, access.ErrForbidden) {
		t.Errorf("readonly Open: %v, want ErrForbidden", err)
	}
	if _, err := h.rl.Open(t.Context(), h.tech, relay.Request{AgentID: "nope", Kind: "terminal"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open on an unknown agent: %v, want ErrNotFound", err)
	}
	h.agents.mu.Lock()
	h.agents.offline = true
	h.agents.mu.Unlock()
	if _, err := h.rl.Open(t.Context(), h.tech, relay.Request{AgentID: h.agentID, Kind: "terminal"}); !errors.Is(err, relay.ErrOffline) {
		t.Errorf("Open on an offline agent: %v, want ErrOffline", err)
	}
	h.agents.mu.Lock()
	h.agents.offline = false
	h.agents.mu.Unlock()
	h.open(t)
	if _, err := h.rl.Open(t.Context(), h.tech, relay.Request{AgentID: h.agentID, Kind: "terminal"}); !errors.Is(err, relay.ErrBusy) {
		t.Errorf("Open past MaxSessions: %v, want ErrBusy", err)
	}
	if got := h.rl.Live(); got != 1 {
		t.Errorf("Live() = %d, want 1", got)
	}
}

func TestAgentRefusal(t *testing.T) {
	h := newHarness(t, relay.Options{})
	o, _ := h.open(t)
	if h.rl.AgentAnswered(h.agentID, protocol.Result{CommandID: "cmd-1", Status: protocol.ResultError}) {
		t.Error("AgentAnswered took another command's result")
	}
	// Another agent cannot end the session; an ok result keeps it.
	for _, r := range []struct {
		agent  string
		status string
	}{{"agent-x", protocol.ResultError}, {h.agentID, protocol.ResultOK}} {
		if !h.rl.AgentAnswered(r.agent, protocol.Result{CommandID: "session-" + o.ID, Status: r.status, Error: "no"}) {
			t.Fatal("AgentAnswered did not take a session_open result")
		}
	}
	if got := h.rl.Live(); got != 1 {
		t.Fatalf("Live() = %d after another agent's refusal and an ok, want 1", got)
	}
	h.rl.AgentAnswered(h.agentID, protocol.Result{CommandID: "session-" + o.ID, Status: protocol.ResultUnsupported,
		Error: "this agent version does not support the command session_open"})
	if e := endOf(t, h.db, o.ID); !strings.Contains(e.Detail["reason"], "does not support") {
		t.Errorf("end reason %q, want the agent's", e.Detail["reason"])
	}
}

func TestAdminEndsSession(t *testing.T) {
	h := newHarness(t, relay.Options{})
	o, open := h.open(t)
	b, _ := h.dialBrowser(t, o, "")
	a, _ := h.dialAgent(t, h.agentID, o.ID, open.Token)
	drain(a)
	if err := h.rl.End(t.Context(), h.tech, o.ID); !errors.Is(err, access.ErrForbidden) {
		t.Errorf("technician End: %v, want ErrForbidden", err)
	}
	admin := access.Principal{User: store.User{ID: "u-admin", Email: "admin@example.com", Role: store.RoleAdmin}, Via: "session"}
	ended := make(chan error, 1)
	go func() { ended <- h.rl.End(context.Background(), admin, o.ID) }()
	if f := readFrame(t, b); f.Type != protocol.FrameClose || !strings.Contains(f.Reason, "admin@example.com") {
		t.Errorf("browser got %+v, want a close frame naming the admin", f)
	}
	drain(b)
	if err := <-ended; err != nil {
		t.Fatalf("admin End: %v", err)
	}
	if e := endOf(t, h.db, o.ID); e.Detail["ended_by"] != "admin@example.com" {
		t.Errorf("session.end detail %v, want ended_by the admin", e.Detail)
	}
	if err := h.rl.End(t.Context(), admin, o.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("End of an ended session: %v, want ErrNotFound", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, relay.Options{IdleTimeout: 50 * time.Millisecond})
	o, open := h.open(t)
	b, _ := h.dialBrowser(t, o, "")
	a, _ := h.dialAgent(t, h.agentID, o.ID, open.Token)
	drain(a)
	if f := readFrame(t, b); f.Type != protocol.FrameClose || !strings.Contains(f.Reason, "idle") {
		t.Errorf("browser got %+v, want a close frame for idleness", f)
	}
	drain(b)
	endOf(t, h.db, o.ID)
}

// TestBackPressure has the agent send far more than any buffer holds to a
// browser that reads nothing: the agent's writes stall, then everything
// arrives in order once the browser reads.
func TestBackPressure(t *testing.T) {
	h := newHarness(t, relay.Options{})
	o, open := h.open(t)
	b, _ := h.dialBrowser(t, o, "")
	a, _ := h.dialAgent(t, h.agentID, o.ID, open.Token)
	const frames, size = 2048, 32 << 10 // 64 MiB
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte{'x'}, size)
		for i := range frames {
			chunk[0] = byte(i)
			if err := a.Write(context.Background(), websocket.MessageBinary, protocol.DataFrame(chunk)); err != nil {
				wrote <- err
				return
			}
			sent.Add(1)
		}
		wrote <- nil
	}()
	// Stalled: the count stays put across several polls.
	var last, same int64
	servertest.Poll(t, "the agent's writes to stall", func() int64 {
		n := sent.Load()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
		return same
	}, func(same int64) bool { return same >= 40 })
	if n := sent.Load(); n >= frames/2 {
		t.Fatalf("agent wrote %d of %d frames to a browser that reads nothing; want it held back", n, frames)
	}
	for i := range frames {
		f := readFrame(t, b)
		if len(f.Data) != size || f.Data[0] != byte(i) {
			t.Fatalf("frame %d: %d bytes starting %d, want %d starting %d", i, len(f.Data), f.Data[0], size, byte(i))
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("agent write: %v", err)
	}
}
