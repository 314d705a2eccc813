package hub_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// wait bounds every read and poll; generous so a loaded machine does not
// flake, while passing runs never wait this long.
const wait = 10 * time.Second

// replica is one server: a hub behind the real gateway routes.
type replica struct {
	db     *store.DB
	site   store.Site
	token  string
	hub    *hub.Hub
	srv    *httptest.Server
	reg    *prometheus.Registry
	events *presence
}

type options struct {
	heartbeat time.Duration
	replicaID string
	// noRun leaves the hub's Run loop stopped.
	noRun bool
	// bus is shared with other replicas; nil means one of its own.
	bus bus.Bus
}

func newReplica(t *testing.T, db *store.DB, o options) *replica {
	t.Helper()
	ctx := t.Context()
	if o.heartbeat == 0 {
		o.heartbeat = 200 * time.Millisecond
	}
	if o.replicaID == "" {
		o.replicaID = "r1"
	}
	svc := manage.New(db)
	c, err := svc.CreateClient(ctx, access.Console(), "Client "+store.NewID())
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	site, err := svc.CreateSite(ctx, access.Console(), c.ID, "Site")
	if err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}

	// Serve goroutines can outlive a failed test by a little; keep their
	// logs out of t so a late line cannot panic the test binary.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var b bus.Bus = bus.NewLocal()
	if o.bus != nil {
		b = o.bus
	}
	r := &replica{db: db, site: site, token: tok, reg: prometheus.NewRegistry(), events: &presence{}}
	if _, err := b.Subscribe(bus.SubjectPresence, r.events.record); err != nil {
		t.Fatal(err)
	}
	r.hub = hub.New(db, b, log, hub.Options{ReplicaID: o.replicaID, Heartbeat: o.heartbeat, Registerer: r.reg, ServerVersion: "test"})
	if !o.noRun {
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.hub.Run(runCtx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}
	mux := http.NewServeMux()
	gateway.New(db, r.hub, log, false).Register(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.hub.Shutdown) // runs first
	return r
}

// enroll creates an agent in the replica's site, as the gateway would.
func (r *replica) enroll(t *testing.T, hostname string) (id, secret string) {
	t.Helper()
	secret = auth.NewSecret("")
	a, err := r.db.Enroll(t.Context(), auth.HashSecret(r.token), store.NewAgent{
		SecretHash: auth.HashSecret(secret), Facts: facts(hostname), IP: "192.0.2.1",
	})
	if err != nil {
		t.Fatalf("Enroll(%s): %v", hostname, err)
	}
	return a.ID, secret
}

func facts(hostname string) protocol.Facts {
	return protocol.Facts{Hostname: hostname, OS: "linux", Arch: "amd64", AgentVersion: "0.1.0", IPAddresses: []string{"10.0.0.1"}}
}

// connect dials as the agent, says hello and waits for the welcome; the
// test reads every message itself.
func (r *replica) connect(t *testing.T, id, secret string) *servertest.Agent {
	t.Helper()
	a := servertest.Dial(t, r.srv.URL, id, secret)
	a.Hello(t, facts("connected"))
	return a
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

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	servertest.Eventually(t, what, cond)
}

func online(t *testing.T, db *store.DB, id string) bool {
	t.Helper()
	a, err := db.Agent(context.WithoutCancel(t.Context()), id)
	if err != nil {
		t.Fatalf("Agent(%s): %v", id, err)
	}
	return a.Online
}

// metric returns the value of a gauge or counter in reg with the given
// labels, or -1 when it has not been reported.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
