package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to hold the server's SQLite write lock

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// The fault tests inject, with real processes, the faults that once left
// presence or commands wrong for good; docs/faults.md lists what each
// injects and what it guarantees.

// faultSite creates an owner with an API token on srv, a client and a
// site, and returns the API client, an enrollment token for the site and
// the site's ID.
func faultSite(t *testing.T, srv *server) (api *apiClient, token, siteID string) {
	t.Helper()
	if _, err := srv.cli("fault-password-1\n", "user", "create", "--email", "ops@example.com", "--role", "owner", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := srv.cli("", "user", "api-token", "--email", "ops@example.com", "--name", "faults")
	if err != nil {
		t.Fatal(err)
	}
	api = &apiClient{t: t, base: srv.URL, token: firstLine(out)}
	var client, site struct{ ID string }
	api.mustDo("POST", "/api/v1/clients", map[string]any{"name": "Faults"}, &client, 201)
	api.mustDo("POST", "/api/v1/clients/"+client.ID+"/sites", map[string]any{"name": "HQ"}, &site, 201)
	var tok struct{ Token string }
	api.mustDo("POST", "/api/v1/sites/"+site.ID+"/enrollment-tokens", map[string]any{"expires_in": "1h"}, &tok, 201)
	return api, tok.Token, site.ID
}

// installAgent enrolls an agent with the servers (comma-separated URLs)
// and returns its config path.
func installAgent(t *testing.T, servers, token string) string {
	t.Helper()
	config := filepath.Join(t.TempDir(), "agent.json")
	out, err := exec.Command(bin(t, "steward-agent"), "install", "--no-service", "--server", servers, "--token", token, "--config", config).CombinedOutput()
	if err != nil {
		t.Fatalf("steward-agent install: %v\n%s", err, out)
	}
	return config
}

// agentByID reads one agent through the API.
func agentByID(t *testing.T, api *apiClient, id string) agentJSON {
	t.Helper()
	var a agentJSON
	api.mustDo("GET", "/api/v1/agents/"+id, nil, &a, 200)
	return a
}

// waitOnline waits until the API shows the agent online (or offline).
func waitPresence(t *testing.T, api *apiClient, id string, online bool, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("agent %s online=%v", id, online), func() error {
		if a := agentByID(t, api, id); a.Online != online {
			return fmt.Errorf("online=%v", a.Online)
		}
		return nil
	})
}

// connectedAgent installs and starts an agent on srv and returns it with
// its ID once the server shows it online.
func connectedAgent(t *testing.T, api *apiClient, servers, token string) (*agentProc, string) {
	t.Helper()
	before := map[string]bool{}
	var l agentList
	api.mustDo("GET", "/api/v1/agents", nil, &l, 200)
	for _, a := range l.Items {
		before[a.ID] = true
	}
	p := startAgent(t, installAgent(t, servers, token))
	var id string
	waitFor(t, 30*time.Second, "the new agent online", func() error {
		api.mustDo("GET", "/api/v1/agents?online=true", nil, &l, 200)
		for _, a := range l.Items {
			if !before[a.ID] {
				id = a.ID
				return nil
			}
		}
		return fmt.Errorf("no new agent online")
	})
	return p, id
}

// sqliteLock holds the write lock of a server's SQLite database from the
// test process, as a stuck writer would: every write of the server waits
// out its busy timeout and fails, while reads go on.
type sqliteLock struct {
	db   *sql.DB
	conn *sql.Conn
}

func lockSQLite(t *testing.T, dataDir string) *sqliteLock {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, store.SQLiteFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the SQLite write lock: %v", err)
	}
	l := &sqliteLock{db: db, conn: conn}
	t.Cleanup(func() { l.release("ROLLBACK") })
	return l
}

// exec runs a statement inside the held transaction.
func (l *sqliteLock) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := l.conn.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// release ends the transaction with COMMIT or ROLLBACK.
func (l *sqliteLock) release(how string) {
	if l.conn == nil {
		return
	}
	l.conn.ExecContext(context.Background(), how)
	l.conn.Close()
	l.conn = nil
}

// waitLog waits until the process log holds want.
func waitLog(t *testing.T, log *logBuffer, timeout time.Duration, want string) {
	t.Helper()
	waitFor(t, timeout, "log line "+want, func() error {
		if !strings.Contains(log.String(), want) {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
}

// TestFaultPresenceOutage: the server cannot write for longer than the
// offline window (its SQLite write lock is held elsewhere: a full disk or
// a stuck writer fails writes the same way). Meanwhile one agent leaves
// (kill -9) and the other stays connected, and the sweep marks the staying
// one offline, as the replica running the jobs does once last_seen went
// stale. Once writes work again, the connected agent is online and the
// departed one offline, without any agent reconnecting.
func TestFaultPresenceOutage(t *testing.T) {
	srv := startServer(t, "")
	api, token, _ := faultSite(t, srv)
	_, stayID := connectedAgent(t, api, srv.URL, token)
	leaving, leftID := connectedAgent(t, api, srv.URL, token)

	lock := lockSQLite(t, srv.dataDir)
	leaving.kill()
	// Both writes fail once the server's busy timeout has passed.
	waitLog(t, srv.log, 30*time.Second, "mark agent offline failed")
	waitLog(t, srv.log, 30*time.Second, `msg="record presence"`)
	if code, err := httpGet(srv.URL + "/readyz"); err != nil || code != 503 {
		t.Errorf("GET /readyz while writes fail = %d, %v; want 503", code, err)
	}
	lock.exec(t, "UPDATE agents SET online = false WHERE id = $1", stayID)
	lock.release("COMMIT")

	waitPresence(t, api, stayID, true, 15*time.Second)
	waitPresence(t, api, leftID, false, 15*time.Second)
	waitFor(t, 15*time.Second, "GET /readyz 200 once writes work", func() error {
		if code, err := httpGet(srv.URL + "/readyz"); err != nil || code != 200 {
			return fmt.Errorf("GET /readyz = %d, %v", code, err)
		}
		return nil
	})
	// And it stays so, past the offline window (3 heartbeats of 1 s)
	// and as many sweeps.
	from := agentByID(t, api, stayID).LastSeen
	waitFor(t, 30*time.Second, "last_seen refreshed past the offline window", func() error {
		a := agentByID(t, api, stayID)
		if !a.Online {
			return fmt.Errorf("the connected agent went offline again")
		}
		if a.LastSeen.Sub(from) < 4*time.Second {
			return fmt.Errorf("last_seen %v, from %v", a.LastSeen, from)
		}
		return nil
	})
	if a := agentByID(t, api, leftID); a.Online {
		t.Error("the departed agent came online again")
	}
	ping(t, api, stayID)
}

// TestFaultCrashWithCommandSent: the server writes a command to the agent
// and dies (kill -9) before storing the answer; the agent, stopped
// (SIGSTOP) meanwhile, answers into a dead connection or never reads the
// command. After the restart the command is answered, not left sent until
// it expires.
func TestFaultCrashWithCommandSent(t *testing.T) {
	// A long heartbeat, so the stopped agent is not dropped as silent
	// before the command goes out.
	srv := startServer(t, "", "--heartbeat", "10s")
	api, token, _ := faultSite(t, srv)
	agent, id := connectedAgent(t, api, srv.URL, token)

	if err := agent.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.cmd.Process.Signal(syscall.SIGCONT) })
	var cmd struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	api.mustDo("POST", "/api/v1/agents/"+id+"/commands", map[string]any{"name": "ping", "timeout": "1h"}, &cmd, 201)
	waitFor(t, 10*time.Second, "ping sent", func() error {
		api.mustDo("GET", "/api/v1/commands/"+cmd.ID, nil, &cmd, 200)
		if cmd.State != "sent" {
			return fmt.Errorf("ping state %q", cmd.State)
		}
		return nil
	})
	srv.kill()
	srv.start()
	if err := agent.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "ping answered after the crash", func() error {
		api.mustDo("GET", "/api/v1/commands/"+cmd.ID, nil, &cmd, 200)
		if cmd.State != "done" {
			return fmt.Errorf("ping state %q", cmd.State)
		}
		return nil
	})
}

// tcpProxy forwards connections to target until cut, which drops every
// connection and refuses new ones until restored: a network partition
// between one replica and its database or bus.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	// frozen holds every byte in the proxy, connections open: a database
	// that hangs rather than fails. thawed is closed while not frozen.
	frozen bool
	thawed chan struct{}
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}, thawed: make(chan struct{})}
	close(p.thawed)
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.setFrozen(false)
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				thawed := p.thawed
				p.mu.Unlock()
				<-thawed
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Go(func() { pipe(up, c) })
	wg.Go(func() { pipe(c, up) })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// setCut cuts (closing every open connection) or restores the link.
func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// setFrozen stops (or resumes) forwarding without closing anything.
func (p *tcpProxy) setFrozen(frozen bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if frozen == p.frozen {
		return
	}
	p.frozen = frozen
	if frozen {
		p.thawed = make(chan struct{})
	} else {
		close(p.thawed)
	}
}

// hostPort returns the host:port of a postgres:// or nats:// URL.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	rest := raw[strings.Index(raw, "://")+3:]
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// replicaFaults starts two replicas on one PostgreSQL database and NATS:
// A reaches the one named by through a proxy the test can cut ("db" or
// "nats"), B directly. It returns both, the proxy, B's API client and an
// agent that knows only A.
func replicaFaults(t *testing.T, through string) (a, b *server, p *tcpProxy, apiB *apiClient, agentID string) {
	t.Helper()
	natsURL := os.Getenv(EnvNATSURL)
	if natsURL == "" || os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Skipf("replica fault test skipped: set %s and %s (e.g. nats://127.0.0.1:4222)", storetest.EnvPostgresURL, EnvNATSURL)
	}
	dbURL := storetest.NewPostgresDatabase(t)
	dbA, natsA := dbURL, natsURL
	switch through {
	case "db":
		p = startProxy(t, hostPort(t, dbURL))
		dbA = strings.Replace(dbURL, hostPort(t, dbURL), p.Addr(), 1)
	case "nats":
		p = startProxy(t, hostPort(t, natsURL))
		natsA = "nats://" + p.Addr()
	}
	b = startServer(t, dbURL, "--nats-url", natsURL)
	// B holds the jobs (it started first): A's outage must be seen by
	// another replica's sweep.
	a = startServer(t, dbA, "--nats-url", natsA)
	apiB, token, _ := faultSite(t, b)
	_, agentID = connectedAgent(t, apiB, a.URL, token)
	return a, b, p, apiB, agentID
}

// TestFaultReplicaCutFromDatabase: replica A, which holds an agent, loses
// PostgreSQL for longer than the offline window while the agent stays
// connected to it; B's sweep marks the agent offline. Once A reaches the
// database again the agent is online, without reconnecting, and commands
// sent through B reach it.
func TestFaultReplicaCutFromDatabase(t *testing.T) {
	a, _, p, apiB, id := replicaFaults(t, "db")
	p.setCut(true)
	waitPresence(t, apiB, id, false, 30*time.Second)
	waitLog(t, a.log, 30*time.Second, `msg="record presence"`)
	p.setCut(false)
	waitPresence(t, apiB, id, true, 30*time.Second)
	ping(t, apiB, id)
}

// TestFaultBusCut: replica A, which holds an agent, is cut off from NATS.
// Commands sent through B are routed over the bus and lost; A finds them
// still queued in the database and delivers them, each once, with the bus
// still cut.
func TestFaultBusCut(t *testing.T) {
	a, _, p, apiB, id := replicaFaults(t, "nats")
	p.setCut(true)
	waitLog(t, a.log, 30*time.Second, "nats disconnected")
	var ids []string
	for range 5 {
		var cmd struct{ ID string }
		apiB.mustDo("POST", "/api/v1/agents/"+id+"/commands", map[string]any{"name": "ping"}, &cmd, 201)
		ids = append(ids, cmd.ID)
	}
	for _, cid := range ids {
		waitFor(t, 30*time.Second, "ping "+cid+" answered", func() error {
			var cmd struct{ State string }
			apiB.mustDo("GET", "/api/v1/commands/"+cid, nil, &cmd, 200)
			if cmd.State != "done" {
				return fmt.Errorf("state %q", cmd.State)
			}
			return nil
		})
	}
	if !strings.Contains(a.log.String(), "offered again") {
		t.Error("replica A did not log the commands it offered again")
	}
	p.setCut(false)
	waitLog(t, a.log, 30*time.Second, "nats reconnected")
	ping(t, apiB, id)
}

// TestFaultStartWithoutDependencies: a replica started while PostgreSQL
// and NATS are unreachable waits for each, saying so, and serves once they
// are back.
func TestFaultStartWithoutDependencies(t *testing.T) {
	natsURL := os.Getenv(EnvNATSURL)
	if natsURL == "" || os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Skipf("start test skipped: set %s and %s (e.g. nats://127.0.0.1:4222)", storetest.EnvPostgresURL, EnvNATSURL)
	}
	dbURL := storetest.NewPostgresDatabase(t)
	pgProxy, natsProxy := startProxy(t, hostPort(t, dbURL)), startProxy(t, hostPort(t, natsURL))
	pgProxy.setCut(true)
	natsProxy.setCut(true)

	addr := freeAddr(t)
	log := &logBuffer{}
	cmd := exec.Command(bin(t, "steward"), "serve", "--listen", addr, "--data-dir", t.TempDir(), "--heartbeat", "1s",
		"--database-url", strings.Replace(dbURL, hostPort(t, dbURL), pgProxy.Addr(), 1), "--nats-url", "nats://"+natsProxy.Addr())
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})

	waitLog(t, log, 30*time.Second, `msg="waiting for the database`)
	pgProxy.setCut(false)
	waitLog(t, log, 60*time.Second, `msg="waiting for NATS`)
	natsProxy.setCut(false)
	waitFor(t, 60*time.Second, "server healthy", func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("server exited: %v", err)
		default:
		}
		if code, err := httpGet("http://" + addr + "/readyz"); err != nil || code != 200 {
			return fmt.Errorf("GET /readyz = %d, %v", code, err)
		}
		return nil
	})
}

// EnvFaultAgents sets how many simulated agents TestFaultFleet runs.
const EnvFaultAgents = "STEWARD_TEST_FAULT_AGENTS"

// TestFaultFleet repeats the replica faults with a fleet of simulated
// agents (steward-sim; 50, or as many as STEWARD_TEST_FAULT_AGENTS says)
// held by replica A: A cut from PostgreSQL while B's sweep marks every
// agent offline, then A cut from NATS while a ping to the whole site is
// sent through B. Every agent is online again once A reaches the database,
// and every ping is answered with the bus still cut.
func TestFaultFleet(t *testing.T) {
	natsURL := os.Getenv(EnvNATSURL)
	if natsURL == "" || os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Skipf("fleet fault test skipped: set %s and %s (e.g. nats://127.0.0.1:4222)", storetest.EnvPostgresURL, EnvNATSURL)
	}
	n := 50
	if v := os.Getenv(EnvFaultAgents); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", EnvFaultAgents, v)
		}
	}
	dbURL := storetest.NewPostgresDatabase(t)
	pgProxy, natsProxy := startProxy(t, hostPort(t, dbURL)), startProxy(t, hostPort(t, natsURL))
	b := startServer(t, dbURL, "--nats-url", natsURL)
	a := startServer(t, strings.Replace(dbURL, hostPort(t, dbURL), pgProxy.Addr(), 1), "--nats-url", "nats://"+natsProxy.Addr())
	apiB, token, siteID := faultSite(t, b)

	sim := exec.Command(bin(t, "steward-sim"), "--server", a.URL, "--token", token, "--agents", strconv.Itoa(n),
		"--state-dir", t.TempDir(), "--report-every", "0", "--log-level", "warn")
	simLog := &logBuffer{}
	sim.Stdout, sim.Stderr = simLog, simLog
	if err := sim.Start(); err != nil {
		t.Fatalf("start steward-sim: %v", err)
	}
	t.Cleanup(func() {
		sim.Process.Signal(os.Interrupt)
		sim.Wait()
		if t.Failed() {
			t.Logf("simulator log:\n%s", simLog.String())
		}
	})
	online := func() int {
		var st statusJSON
		apiB.mustDo("GET", "/api/v1/status", nil, &st, 200)
		return st.Agents.Online
	}
	waitOnline(t, apiB, n, 2*time.Minute)

	pgProxy.setCut(true)
	waitFor(t, time.Minute, "B's sweep to mark A's agents offline", func() error {
		if got := online(); got != 0 {
			return fmt.Errorf("%d of %d online", got, n)
		}
		return nil
	})
	pgProxy.setCut(false)
	waitOnline(t, apiB, n, time.Minute)

	natsProxy.setCut(true)
	waitLog(t, a.log, 30*time.Second, "nats disconnected")
	var batch struct{ ID string }
	apiB.mustDo("POST", "/api/v1/commands", map[string]any{"name": "ping", "target": map[string]any{"site_id": siteID}}, &batch, 201)
	var st struct {
		States   map[string]int `json:"states"`
		Finished int            `json:"finished"`
	}
	waitFor(t, time.Minute, "every ping answered", func() error {
		apiB.mustDo("GET", "/api/v1/command-batches/"+batch.ID, nil, &st, 200)
		if st.States["done"] != n {
			return fmt.Errorf("batch states %v", st.States)
		}
		return nil
	})
	natsProxy.setCut(false)
	if got := online(); got != n {
		t.Errorf("%d of %d agents online at the end", got, n)
	}
}

// TestFaultDatabaseHangs: PostgreSQL stops answering without failing (a
// proxy holds every byte, connections open). API requests end with a 503
// at the server's deadline instead of hanging, /readyz says so, and both
// recover when the database answers again.
func TestFaultDatabaseHangs(t *testing.T) {
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Skipf("PostgreSQL fault test skipped: %s is not set", storetest.EnvPostgresURL)
	}
	dbURL := storetest.NewPostgresDatabase(t)
	p := startProxy(t, hostPort(t, dbURL))
	srv := startServer(t, strings.Replace(dbURL, hostPort(t, dbURL), p.Addr(), 1))
	api, _, _ := faultSite(t, srv)

	p.setFrozen(true)
	code := api.do("GET", "/api/v1/agents", nil, nil)
	if code != 503 {
		t.Errorf("GET /api/v1/agents with the database hung = %d, want 503 at the server's deadline", code)
	}
	if code, err := httpGet(srv.URL + "/readyz"); err != nil || code != 503 {
		t.Errorf("GET /readyz with the database hung = %d, %v; want 503", code, err)
	}
	p.setFrozen(false)
	waitFor(t, 30*time.Second, "API answering again", func() error {
		if code := api.do("GET", "/api/v1/agents", nil, nil); code != 200 {
			return fmt.Errorf("GET /api/v1/agents = %d", code)
		}
		return nil
	})
}
