package command_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
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
// subscribers.
type watchedBus struct {
	*bus.Local
	mu   sync.Mutex
	subs map[string]int
}

func newBus() *watchedBus { return &watchedBus{Local: bus.NewLocal(), subs: map[string]int{}} }

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

// agent is a fake steward-agent speaking the real protocol. A reader
// goroutine hands every message but heartbeat answers to msgs, and a
// heartbeat goroutine keeps the connection alive like the real agent.
type agent struct {
	id   string
	ws   *websocket.Conn
	msgs chan protocol.Envelope
	// auto answers pings by itself instead of handing them to msgs.
	auto bool
	// answered counts the pings answered automatically.
	answered atomic.Int32
	syncs    int
}

// connect dials as the agent, says hello, waits for the welcome and starts
// the agent's goroutines; the test's cleanup stops them. An auto agent
// answers every ping itself.
func (s *server) connect(t *testing.T, id, secret string, auto bool) *agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + protocol.ConnectPath
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {protocol.FormatCredential(id, secret)}},
	})
	if err != nil {
		t.Fatalf("dial as %s: %v (%v)", id, err, res)
	}
	t.Cleanup(func() { ws.CloseNow() })
	a := &agent{id: id, ws: ws, msgs: make(chan protocol.Envelope, 64), auto: auto}
	a.send(t, protocol.TypeHello, "", facts("connected"))
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read welcome: %v", err)
	}
	env, err := protocol.DecodeEnvelope(b)
	if err != nil || env.Type != protocol.TypeWelcome {
		t.Fatalf("answer to hello = %s (%v), want welcome", b, err)
	}
	w, err := protocol.DecodeWelcome(env.Data)
	if err != nil {
		t.Fatalf("DecodeWelcome(%s): %v", env.Data, err)
	}

	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.readLoop(runCtx) })
	wg.Go(func() { a.heartbeats(runCtx, time.Duration(w.HeartbeatInterval)) })
	t.Cleanup(func() {
		stop()
		ws.CloseNow()
		wg.Wait()
	})
	return a
}

func (a *agent) readLoop(ctx context.Context) {
	defer close(a.msgs)
	for {
		_, b, err := a.ws.Read(ctx)
		if err != nil {
			return
		}
		env, err := protocol.DecodeEnvelope(b)
		if err != nil {
			env = protocol.Envelope{Type: "undecodable", Data: b}
		}
		if env.Type == protocol.TypeHeartbeat && env.ID == "" {
			continue // the answer to a background heartbeat
		}
		if a.auto && env.Type == protocol.TypeCommand {
			cmd, err := protocol.DecodeCommand(env.Data)
			if err == nil {
				// Counted before the write: once it is written the server
				// may store the answer, and the test see it, before this
				// goroutine runs again.
				a.answered.Add(1)
				if a.write(ctx, protocol.TypeResult, "", ping(cmd)) == nil {
					continue
				}
				a.answered.Add(-1)
			}
		}
		select {
		case a.msgs <- env:
		case <-ctx.Done():
			return
		}
	}
}

func (a *agent) heartbeats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a.write(ctx, protocol.TypeHeartbeat, "", protocol.Heartbeat{Time: time.Now().UTC()}) != nil {
				return
			}
		}
	}
}

func (a *agent) write(ctx context.Context, typ, id string, payload any) error {
	b, err := protocol.Encode(typ, id, payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return a.ws.Write(ctx, websocket.MessageText, b)
}

func (a *agent) send(t *testing.T, typ, id string, payload any) {
	t.Helper()
	if err := a.write(t.Context(), typ, id, payload); err != nil {
		t.Fatalf("write %s: %v", typ, err)
	}
}

func (a *agent) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := a.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write %s: %v", b, err)
	}
}

// next returns the next message from the server.
func (a *agent) next(t *testing.T) protocol.Envelope {
	t.Helper()
	select {
	case env, ok := <-a.msgs:
		if !ok {
			t.Fatalf("agent %s: connection closed", a.id)
		}
		return env
	case <-time.After(wait):
		t.Fatalf("agent %s: no message within %v", a.id, wait)
	}
	panic("unreachable")
}

// command reads the next message, which must be a command.
func (a *agent) command(t *testing.T) protocol.Command {
	t.Helper()
	env := a.next(t)
	if env.Type != protocol.TypeCommand {
		t.Fatalf("agent %s got %s %s, want a command", a.id, env.Type, env.Data)
	}
	c, err := protocol.DecodeCommand(env.Data)
	if err != nil {
		t.Fatalf("DecodeCommand(%s): %v", env.Data, err)
	}
	return c
}

// sync sends a heartbeat and waits for its answer, which must be the next
// message. The hub handles one message at a time, so every earlier
// message has been handled, and every command queued for the agent
// before has been written to it.
func (a *agent) sync(t *testing.T) {
	t.Helper()
	a.syncs++
	id := "sync-" + strconv.Itoa(a.syncs)
	a.send(t, protocol.TypeHeartbeat, id, protocol.Heartbeat{Time: time.Now().UTC()})
	if env := a.next(t); env.Type != protocol.TypeHeartbeat || env.ID != id {
		t.Fatalf("agent %s got %s %q %s, want the answer to heartbeat %s", a.id, env.Type, env.ID, env.Data, id)
	}
}

// ping is the answer the real agent gives to a ping.
func ping(c protocol.Command) protocol.Result {
	out, _ := json.Marshal(protocol.PingOutput{AgentTime: time.Now().UTC()})
	return protocol.Result{CommandID: c.CommandID, Status: protocol.ResultOK, Output: out}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, wait, what, cond)
}

// eventuallyWithin is eventually with its own bound, for work that grows
// with a fleet's size.
func eventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
