package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// server is a real server started for one test, so the gateway's rate
// limiters start empty, with a site and an unlimited enrollment token for
// it, and the presence events it published.
type server struct {
	*servertest.Server
	db     *store.DB
	svc    *manage.Service
	site   store.Site
	token  string
	events *presence
}

type serverOptions struct {
	heartbeat  time.Duration
	trustProxy bool
}

func newServer(t *testing.T, b servertest.Backend, o serverOptions) *server {
	t.Helper()
	opts := b.Options(t)
	opts.Heartbeat, opts.TrustProxy = o.heartbeat, o.trustProxy
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 200 * time.Millisecond
	}
	ts := servertest.Start(t, opts)
	s := &server{Server: ts, db: ts.DB(), svc: ts.Manage, site: ts.NewSite(t), events: &presence{}}
	s.token = ts.EnrollmentToken(t, s.site.ID)
	unsub, err := ts.Bus().Subscribe(bus.SubjectPresence, s.events.record)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(unsub)
	return s
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
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.URL+protocol.EnrollPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
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

func facts(hostname string) protocol.Facts { return servertest.Facts(hostname) }

// enroll enrolls an agent through the endpoint and returns its credentials.
func (s *server) enroll(t *testing.T, hostname string) (id, secret string) {
	t.Helper()
	return s.Enroll(t, s.token, facts(hostname))
}

// dial opens the control channel with an Authorization header value.
func (s *server) dial(t *testing.T, authorization string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return s.DialControl(t, authorization)
}

// connect dials, says hello with facts and returns after the welcome.
func (s *server) connect(t *testing.T, id, secret string, f protocol.Facts) (*servertest.Agent, protocol.Welcome) {
	t.Helper()
	a := s.Dial(t, id, secret)
	return a, a.Hello(t, f)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	servertest.Eventually(t, what, cond)
}

func (s *server) agentRow(t *testing.T, id string) store.Agent {
	t.Helper()
	return s.Agent(t, id)
}
