package command_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/command"
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

// quiet is a logger for server goroutines, which can outlive a failed
// test by a little; logging to t from them could panic the test binary.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// technician is the principal most tests create commands as.
var technician = access.Principal{
	User: store.User{ID: "user-tech", Email: "tech@example.com", Role: store.RoleTechnician},
	Via:  "session", IP: "192.0.2.7",
}

// fleet is the database every replica of a test shares, with a site and
// an unlimited enrollment token for it.
type fleet struct {
	db    *store.DB
	site  store.Site
	token string
}

func newFleet(t *testing.T, db *store.DB) *fleet {
	t.Helper()
	ctx := t.Context()
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
	return &fleet{db: db, site: site, token: tok}
}

// enroll creates an agent in the fleet's site, as the gateway would.
func (f *fleet) enroll(t *testing.T, hostname string) (id, secret string) {
	t.Helper()
	secret = auth.NewSecret("")
	a, err := f.db.Enroll(t.Context(), auth.HashSecret(f.token), store.NewAgent{
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

// server is one replica wired as in production: hub, command service and
// the gateway routes, with the hub's and the service's loops running.
type server struct {
	*fleet
	replicaID string
	hub       *hub.Hub
	cmds      *command.Service
	srv       *httptest.Server
}

func newServer(t *testing.T, f *fleet, b *watchedBus, replicaID string) *server {
	t.Helper()
	// A heartbeat far longer than any test: the silence timeout (three
	// heartbeats) must not close a fake agent whose heartbeat goroutine a
	// loaded machine held up; 500 ms lost hundreds of agents under -race.
	h := hub.New(f.db, b, quiet, hub.Options{ReplicaID: replicaID, Heartbeat: 10 * time.Second, ServerVersion: "test"})
	cmds := command.New(f.db, h, b, replicaID, quiet)
	cmds.SetRedeliverEvery(time.Second)
	h.SetCommandHandler(cmds)

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		runErr error
	)
	wg.Go(func() { h.Run(ctx) })
	wg.Go(func() { runErr = cmds.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("command service Run: %v", runErr)
		}
	})

	mux := http.NewServeMux()
	gateway.New(f.db, h, quiet, false).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Shutdown) // runs first: ends every control connection
	// Run subscribes to this replica's deliveries as it starts; until then
	// other replicas' deliveries would be lost.
	eventually(t, replicaID+" subscribed to its deliveries", func() bool { return b.subscribed(deliverSubject(replicaID)) })
	return &server{fleet: f, replicaID: replicaID, hub: h, cmds: cmds, srv: srv}
}

// deliverSubject is where other replicas route commands for agents that
// replicaID holds.
func deliverSubject(replicaID string) string { return "steward.deliver." + replicaID }

// watchedBus is the in-process bus, telling which subjects have
// subscribers, and dropping what is published on the subjects a test cuts.
type watchedBus struct {
	*bus.Local
	mu   sync.Mutex
	subs map[string]int
	cut  map[string]bool
}

func newBus() *watchedBus {
	return &watchedBus{Local: bus.NewLocal(), subs: map[string]int{}, cut: map[string]bool{}}
}

// drop makes the bus lose every message on subject, as NATS does while a
// replica is cut off from it.
func (b *watchedBus) drop(subject string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut[subject] = true
}

func (b *watchedBus) Publish(ctx context.Context, subject string, data []byte) error {
	b.mu.Lock()
	cut := b.cut[subject]
	b.mu.Unlock()
	if cut {
		return nil
	}
	return b.Local.Publish(ctx, subject, data)
}

func (b *watchedBus) Subscribe(subject string, h bus.Handler) (func(), error) {
	unsub, err := b.Local.Subscribe(subject, h)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.subs[subject]++
	b.mu.Unlock()
	return func() {
		unsub()
		b.mu.Lock()
		b.subs[subject]--
		b.mu.Unlock()
	}, nil
}

func (b *watchedBus) subscribed(subject string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[subject] > 0
}

// record subscribes to subject until the test ends and returns a function
// that reports the messages seen so far.
func (b *watchedBus) record(t *testing.T, subject string) func() [][]byte {
	t.Helper()
	var (
		mu   sync.Mutex
		msgs [][]byte
	)
	unsub, err := b.Subscribe(subject, func(data []byte) {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, append([]byte(nil), data...))
	})
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", subject, err)
	}
	t.Cleanup(unsub)
	return func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), msgs...)
	}
}

// connect dials as the agent, says hello and runs it live until the test
// ends; an auto agent answers every ping itself, as the real agent does.
func (s *server) connect(t *testing.T, id, secret string, auto bool) *servertest.Agent {
	t.Helper()
	o := servertest.AgentOptions{Facts: facts("connected")}
	if auto {
		o.Answer = servertest.AnswerPings
	}
	return servertest.Connect(t, s.srv.URL, id, secret, o)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	servertest.Eventually(t, what, cond)
}

// waitState polls a command until it reaches state.
func waitState(t *testing.T, db *store.DB, id, state string) store.Command {
	t.Helper()
	var c store.Command
	eventually(t, "command "+id+" to be "+state, func() bool {
		var err error
		c, err = db.Command(context.WithoutCancel(t.Context()), id)
		if err != nil {
			t.Fatalf("Command(%s): %v", id, err)
		}
		return c.State == state
	})
	return c
}

func mustCommand(t *testing.T, db *store.DB, id string) store.Command {
	t.Helper()
	c, err := db.Command(t.Context(), id)
	if err != nil {
		t.Fatalf("Command(%s): %v", id, err)
	}
	return c
}

// create sends ping to the given agents as the technician.
func (s *server) create(t *testing.T, agentIDs ...string) (store.BatchStatus, []string) {
	t.Helper()
	st, ids, err := s.cmds.Create(t.Context(), technician, command.Request{
		Name: protocol.CommandPing, AgentIDs: agentIDs, Target: "test",
	})
	if err != nil {
		t.Fatalf("Create(ping to %d agents): %v", len(agentIDs), err)
	}
	if len(ids) != len(agentIDs) {
		t.Fatalf("Create(ping to %d agents) returned %d command IDs", len(agentIDs), len(ids))
	}
	return st, ids
}

// commandFor returns which of ids belongs to agentID.
func commandFor(t *testing.T, db *store.DB, ids []string, agentID string) string {
	t.Helper()
	for _, id := range ids {
		if mustCommand(t, db, id).AgentID == agentID {
			return id
		}
	}
	t.Fatalf("no command for agent %s among %v", agentID, ids)
	return ""
}

// ping is the answer the real agent gives to a ping.
func ping(c protocol.Command) protocol.Result {
	r, _ := servertest.AnswerPings(c)
	return r
}
