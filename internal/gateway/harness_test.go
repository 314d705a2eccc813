package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// wait bounds every read and poll; generous so a loaded machine does not
// flake, while passing runs never wait this long.
const wait = 10 * time.Second

// fleet is the data every gateway test shares: a site and an unlimited
// enrollment token for it.
type fleet struct {
	db    *store.DB
	svc   *manage.Service
	site  store.Site
	token string
}

func newFleet(t *testing.T, db *store.DB) *fleet {
	t.Helper()
	ctx := t.Context()
	svc := manage.New(db)
	c, err := svc.CreateClient(ctx, access.Console(), "Gateway Client")
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	site, err := svc.CreateSite(ctx, access.Console(), c.ID, "Gateway Site")
	if err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return &fleet{db: db, svc: svc, site: site, token: tok}
}

// server is one replica: a hub, the gateway routes and an HTTP server.
// Each test gets its own so the gateway's rate limiters start empty.
type server struct {
	*fleet
	hub    *hub.Hub
	srv    *httptest.Server
	events *presence
}

type serverOptions struct {
	heartbeat  time.Duration
	trustProxy bool
	// registerer receives the hub's metrics; nil skips them.
	registerer prometheus.Registerer
}

func newServer(t *testing.T, f *fleet, o serverOptions) *server {
	t.Helper()
	if o.heartbeat == 0 {
		o.heartbeat = 200 * time.Millisecond
	}
	// Handlers can outlive a failed test by a little; keep their logs out
	// of t so a late line cannot panic the test binary.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := bus.NewLocal()
	events := &presence{}
	if _, err := b.Subscribe(bus.SubjectPresence, events.record); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	h := hub.New(f.db, b, log, hub.Options{ReplicaID: "r1", Heartbeat: o.heartbeat, ServerVersion: "test", Registerer: o.registerer})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	mux := http.NewServeMux()
	gateway.New(f.db, h, log, o.trustProxy).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// Runs first: end every control connection and wait for its loop.
	t.Cleanup(h.Shutdown)
	return &server{fleet: f, hub: h, srv: srv, events: events}
}

// presence records PresenceEvents from the bus.
type presence struct {
	mu     sync.Mutex
	events []bus.PresenceEvent
}

func (p *presence) record(data []byte) {
	var e bus.PresenceEvent
	if err := json.Unmarshal(data, &e); err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

// of returns the events about one agent.
func (p *presence) of(agentID string) []bus.PresenceEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []bus.PresenceEvent
	for _, e := range p.events {
		if e.AgentID == agentID {
			out = append(out, e)
		}
	}
	return out
}

// postEnroll sends raw bytes to the enrollment endpoint.
func (s *server) postEnroll(t *testing.T, body []byte, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.srv.URL+protocol.EnrollPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", protocol.EnrollPath, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read enrollment response: %v", err)
	}
	return res.StatusCode, res.Header, b
}

func facts(hostname string) protocol.Facts {
	return protocol.Facts{
		Hostname: hostname, OS: "linux", OSName: "debian", OSVersion: "12", Arch: "amd64", Kernel: "6.1.0",
		AgentVersion: "0.1.0", IPAddresses: []string{"10.0.0.9"}, Users: []string{"root"},
		BootTime: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
}

// enroll enrolls an agent through the endpoint and returns its credentials.
func (s *server) enroll(t *testing.T, hostname string) (id, secret string) {
	t.Helper()
	body, _ := json.Marshal(protocol.EnrollRequest{Token: s.token, Facts: facts(hostname)})
	status, _, b := s.postEnroll(t, body, nil)
	if status != http.StatusOK {
		t.Fatalf("enroll %s: status %d, body %s", hostname, status, b)
	}
	var res protocol.EnrollResponse
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("enroll response %s: %v", b, err)
	}
	return res.AgentID, res.AgentSecret
}

func (s *server) wsURL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + protocol.ConnectPath
}

// dial opens the control channel with an Authorization header value.
func (s *server) dial(t *testing.T, authorization string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	h := http.Header{}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	ws, res, err := websocket.Dial(ctx, s.wsURL(), &websocket.DialOptions{HTTPHeader: h})
	if ws != nil {
		t.Cleanup(func() { ws.CloseNow() })
	}
	return ws, res, err
}

// agent is a fake steward-agent speaking the real protocol.
type agent struct {
	id string
	ws *websocket.Conn
}

// open dials as agent id without saying hello.
func (s *server) open(t *testing.T, id, secret string) *agent {
	t.Helper()
	ws, res, err := s.dial(t, protocol.FormatCredential(id, secret))
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial control channel: %v (HTTP %d)", err, status)
	}
	return &agent{id: id, ws: ws}
}

// connect dials, says hello with facts and returns after the welcome.
func (s *server) connect(t *testing.T, id, secret string, f protocol.Facts) (*agent, protocol.Welcome) {
	t.Helper()
	a := s.open(t, id, secret)
	a.send(t, protocol.TypeHello, "hello-1", f)
	env := a.read(t)
	if env.Type != protocol.TypeWelcome {
		t.Fatalf("answer to hello = %s %s, want welcome", env.Type, env.Data)
	}
	w, err := protocol.DecodeWelcome(env.Data)
	if err != nil {
		t.Fatalf("DecodeWelcome(%s): %v", env.Data, err)
	}
	return a, w
}

func (a *agent) send(t *testing.T, typ, id string, payload any) {
	t.Helper()
	b, err := protocol.Encode(typ, id, payload)
	if err != nil {
		t.Fatalf("Encode(%s): %v", typ, err)
	}
	a.sendRaw(t, b)
}

func (a *agent) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := a.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// read returns the next message from the server.
func (a *agent) read(t *testing.T) protocol.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	_, b, err := a.ws.Read(ctx)
	if err != nil {
		t.Fatalf("read from server: %v", err)
	}
	env, err := protocol.DecodeEnvelope(b)
	if err != nil {
		t.Fatalf("DecodeEnvelope(%s): %v", b, err)
	}
	return env
}

// readError reads the next message, which must be an error with code.
func (a *agent) readError(t *testing.T, code, refID string) protocol.Error {
	t.Helper()
	env := a.read(t)
	if env.Type != protocol.TypeError {
		t.Fatalf("got %s %s, want an error message", env.Type, env.Data)
	}
	e, err := protocol.DecodeError(env.Data)
	if err != nil {
		t.Fatal(err)
	}
	if e.Code != code || e.RefID != refID || e.Message == "" {
		t.Errorf("error = %+v, want code %q, ref_id %q and a message", e, code, refID)
	}
	return e
}

// heartbeat sends a heartbeat and waits for the answer. The server handles
// one message at a time, so after the answer every earlier message has
// been processed.
func (a *agent) heartbeat(t *testing.T, id string) {
	t.Helper()
	a.send(t, protocol.TypeHeartbeat, id, protocol.Heartbeat{Time: time.Now().UTC()})
	env := a.read(t)
	if env.Type != protocol.TypeHeartbeat || env.ID != id {
		t.Fatalf("answer to heartbeat %s = %s %q %s, want heartbeat %q", id, env.Type, env.ID, env.Data, id)
	}
}

// readClose reads until the server closes and returns the close status.
func (a *agent) readClose(t *testing.T) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for {
		_, b, err := a.ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("server did not close the connection within %v", wait)
			}
			return websocket.CloseStatus(err)
		}
		t.Logf("message before close: %s", b)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fleet) agentRow(t *testing.T, id string) store.Agent {
	t.Helper()
	a, err := f.db.Agent(context.WithoutCancel(t.Context()), id)
	if err != nil {
		t.Fatalf("Agent(%s): %v", id, err)
	}
	return a
}
