package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/steward-rmm/steward/internal/store/storetest"
)

// EnvBenchAgents turns on TestScale: a comma-separated list of fleet sizes,
// e.g. "1000,5000,10000,19000".
const EnvBenchAgents = "STEWARD_BENCH_AGENTS"

// simPerProcess keeps each simulator process under the machine's
// 20,000-open-files limit.
const simPerProcess = 9500

// TestScale is the scale benchmark of docs/benchmarks.md, not a CI test:
// memory per idle agent at each fleet size, command fan-out, database
// writes at rest, the dashboard list with the whole fleet in one client,
// and a connect storm after a server restart. It runs real server and
// simulator processes and logs a table.
func TestScale(t *testing.T) {
	sizes := benchSizes(t)
	t.Run("sqlite", func(t *testing.T) { scale(t, "", sizes) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(storetest.EnvPostgresURL) == "" {
			t.Skipf("PostgreSQL scale run skipped: %s is not set", storetest.EnvPostgresURL)
		}
		scale(t, storetest.NewPostgresDatabase(t), sizes)
	})
}

func benchSizes(t *testing.T) []int {
	raw := os.Getenv(EnvBenchAgents)
	if raw == "" {
		t.Skipf("scale benchmark skipped: set %s=1000,5000,10000,19000 to run it", EnvBenchAgents)
	}
	var sizes []int
	for _, f := range strings.Split(raw, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("%s: bad size %q", EnvBenchAgents, f)
		}
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	return sizes
}

type memSample struct {
	rssKB, heapInuse, stackInuse float64
}

func scale(t *testing.T, dbURL string, sizes []int) {
	debugAddr := freeAddr(t)
	bf := newBenchFleet(t, dbURL, "--heartbeat", "30s", "--log-level", "info", "--debug-listen", debugAddr)
	srv, api, tok := bf.srv, bf.api, struct{ Token string }{bf.token}
	client := struct{ ID string }{bf.clientID}

	base := sampleMem(t, srv, debugAddr)
	t.Logf("server base: RSS %.1f MiB, heap in use %.1f MiB, stacks %.1f MiB", base.rssKB/1024, base.heapInuse/(1<<20), base.stackInuse/(1<<20))

	var (
		sims     []*exec.Cmd
		simSizes []int // agents of each simulator process, by index
		running  int
		rows     []string
	)
	t.Cleanup(func() {
		for _, s := range sims {
			s.Process.Signal(os.Interrupt)
		}
		for _, s := range sims {
			s.Wait()
		}
	})
	stateRoot := t.TempDir()
	// startSim starts simulator i with k agents, kept in its own state
	// directory so a restart brings back the same identities.
	startSim := func(i, k int, extra ...string) {
		args := append([]string{"--server", srv.URL, "--token", tok.Token, "--agents", strconv.Itoa(k),
			"--state-dir", filepath.Join(stateRoot, strconv.Itoa(i)), "--name-prefix", fmt.Sprintf("sim%d-", i),
			"--source-addrs", fmt.Sprintf("127.0.%d.1-127.0.%d.250", i+1, i+1), "--report-every", "0"}, extra...)
		cmd := exec.Command(bin(t, "steward-sim"), args...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatalf("start steward-sim: %v", err)
		}
		sims = append(sims, cmd)
	}
	startSims := func(n int) {
		for n > 0 {
			k := min(n, simPerProcess)
			startSim(len(simSizes), k, "--ramp", "2000")
			simSizes = append(simSizes, k)
			n -= k
		}
	}
	var mem memSample
	for _, n := range sizes {
		start := time.Now()
		startSims(n - running)
		running = n
		waitOnline(t, api, n, 5*time.Minute)
		connectTime := time.Since(start)
		time.Sleep(15 * time.Second) // let the ramp's garbage be collected and stacks settle
		mem = sampleMem(t, srv, debugAddr)
		per := func(v, b float64) float64 { return (v - b) / float64(n) / 1024 }
		rows = append(rows, fmt.Sprintf("| %d | %.1f | %.1f | %.1f | %.1f | %.1f |", n, mem.rssKB/1024,
			(mem.rssKB-base.rssKB)/float64(n), per(mem.heapInuse, base.heapInuse), per(mem.stackInuse, base.stackInuse), connectTime.Seconds()))
		t.Logf("%d agents online after %s: RSS %.1f MiB", n, connectTime.Round(time.Millisecond), mem.rssKB/1024)
	}
	n := sizes[len(sizes)-1]

	// Command fan-out: one ping to every agent, until every answer is stored.
	var batch struct {
		ID       string
		Agents   int
		Finished int
		States   map[string]int
	}
	start := time.Now()
	api.mustDo("POST", "/api/v1/commands", map[string]any{"name": "ping", "timeout": "5m", "target": map[string]any{"all": true}}, &batch, 201)
	created := time.Since(start)
	for batch.Finished < batch.Agents && time.Since(start) < 5*time.Minute {
		time.Sleep(50 * time.Millisecond)
		api.mustDo("GET", "/api/v1/command-batches/"+batch.ID, nil, &batch, 200)
	}
	fanout := time.Since(start)
	if batch.Agents != n || batch.States["done"] != n {
		t.Errorf("fan-out batch = %+v, want %d agents done", batch, n)
	}

	// Policy push: a policy assigned to the client reaches every agent,
	// measured until every agent acknowledged the new revision.
	var pol struct{ ID string }
	api.mustDo("POST", "/api/v1/policies", map[string]any{"name": "Scale", "document": map[string]any{
		"metrics": map[string]any{"interval": "45s"}}}, &pol, 201)
	pushStart := time.Now()
	api.mustDo("PUT", "/api/v1/policy-assignments", map[string]any{"level": "client", "target_id": client.ID, "policy_id": pol.ID}, nil, 200)
	var probe []struct{ ID string }
	var agents struct {
		Items []struct{ ID string } `json:"items"`
		Total int                   `json:"total"`
	}
	api.mustDo("GET", "/api/v1/agents?limit=1", nil, &agents, 200)
	probe = agents.Items
	var eff struct{ Revision string }
	api.mustDo("GET", "/api/v1/agents/"+probe[0].ID+"/effective-policy", nil, &eff, 200)
	for time.Since(pushStart) < 5*time.Minute {
		api.mustDo("GET", "/api/v1/agents?limit=1&policy_revision="+eff.Revision, nil, &agents, 200)
		if agents.Total == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	policyPush := time.Since(pushStart)
	if agents.Total != n {
		t.Errorf("policy push: %d of %d agents on the new revision", agents.Total, n)
	}

	// Dashboard and API list with the whole fleet in one client.
	apiList := timeRequests(t, 20, func() { api.mustDo("GET", "/api/v1/agents?client_id="+client.ID+"&limit=50", nil, nil, 200) })
	dash := dashboardClient(t, srv.URL, "bench@example.com", "scale-password-1")
	page := timeRequests(t, 20, func() { get(t, dash, srv.URL+"/agents?client="+client.ID) })
	home := timeRequests(t, 20, func() { get(t, dash, srv.URL+"/") })

	// Database writes at rest (PostgreSQL's statistics; SQLite keeps none).
	atRest := "not measured (SQLite keeps no statement statistics)"
	if dbURL != "" {
		c1, u1 := pgWrites(t, dbURL)
		time.Sleep(60 * time.Second)
		c2, u2 := pgWrites(t, dbURL)
		atRest = fmt.Sprintf("%.2f transactions/s, %.0f rows updated/s over 60 s", float64(c2-c1)/60, float64(u2-u1)/60)
	} else {
		time.Sleep(60 * time.Second)
	}
	// By now Go has returned to the OS most of what the ramp, the fan-out
	// and the push freed; the samples above still hold some of it.
	rest := sampleMem(t, srv, debugAddr)
	memAtRest := fmt.Sprintf("RSS %.1f MiB (%.1f KiB per agent), heap in use %.1f KiB per agent, stacks %.2f KiB per agent",
		rest.rssKB/1024, (rest.rssKB-base.rssKB)/float64(n), (rest.heapInuse-base.heapInuse)/float64(n)/1024,
		(rest.stackInuse-base.stackInuse)/float64(n)/1024)

	// Connect storm: stop every simulator, restart the server, then start
	// the whole fleet at once (known identities, no ramp).
	for _, s := range sims {
		s.Process.Signal(os.Interrupt)
	}
	for _, s := range sims {
		s.Wait()
	}
	sims = nil
	srv.restart()
	cpu0 := procCPU(t, srv.cmd.Process.Pid)
	stormStart := time.Now()
	// The same processes with the same state directories: every agent
	// reconnects with its identity, none enrolls.
	for i, k := range simSizes {
		startSim(i, k)
	}
	waitOnline(t, api, n, 5*time.Minute)
	storm := time.Since(stormStart)
	stormCPU := procCPU(t, srv.cmd.Process.Pid) - cpu0

	t.Logf("\n| agents | server RSS MiB | RSS KiB per agent | heap KiB per agent | stack KiB per agent | time to connect (s) |\n| --- | --- | --- | --- | --- | --- |\n%s\n\n"+
		"fan-out to %d agents: batch created in %s, all answers stored after %s\n"+
		"policy push to %d agents: every agent acknowledged the new revision after %s\n"+
		"GET /api/v1/agents?client_id (50 of %d): median %s; dashboard /agents?client=: median %s; home: median %s\n"+
		"at rest: %s\n"+
		"memory after the minute at rest: %s\n"+
		"connect storm (server restarted, then all %d agents started at once): all online after %s, server CPU %.1f s",
		strings.Join(rows, "\n"), n, created.Round(time.Millisecond), fanout.Round(time.Millisecond),
		n, policyPush.Round(time.Millisecond), n,
		apiList, page, home, atRest, memAtRest, n, storm.Round(time.Millisecond), stormCPU)
}

// waitOnline polls the status API until n agents are online.
func waitOnline(t *testing.T, api *apiClient, n int, timeout time.Duration) {
	t.Helper()
	var st statusJSON
	waitFor(t, timeout, fmt.Sprintf("%d agents online", n), func() error {
		if code := api.do("GET", "/api/v1/status", nil, &st); code != 200 {
			return fmt.Errorf("status %d", code)
		}
		if st.Agents.Online < n {
			return fmt.Errorf("%d of %d online", st.Agents.Online, n)
		}
		return nil
	})
}

// sampleMem forces a GC through pprof, then reads RSS and Go memory.
func sampleMem(t *testing.T, srv *server, debugAddr string) memSample {
	t.Helper()
	for range 2 {
		resp, err := http.Get("http://" + debugAddr + "/debug/pprof/heap?gc=1")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var m memSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			m.rssKB, _ = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			m.heapInuse = v
		case "go_memstats_stack_inuse_bytes":
			m.stackInuse = v
		}
	}
	return m
}

func timeRequests(t *testing.T, n int, fn func()) time.Duration {
	t.Helper()
	var d []time.Duration
	for range n {
		start := time.Now()
		fn()
		d = append(d, time.Since(start))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2].Round(100 * time.Microsecond)
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %s", url, resp.Status)
	}
}

func pgWrites(t *testing.T, dbURL string) (commits, updated int64) {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Our own query's transaction counts too; it is one per sample.
	err = db.QueryRowContext(ctx, `SELECT xact_commit, tup_updated FROM pg_stat_database WHERE datname = current_database()`).Scan(&commits, &updated)
	if err != nil {
		t.Fatal(err)
	}
	return commits, updated
}

// procCPU returns a process's user+system CPU seconds.
func procCPU(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}
