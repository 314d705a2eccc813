package sim_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/sim"
	"github.com/steward-rmm/steward/internal/store"
)

func TestAgentsConnectAndHeartbeat(t *testing.T) {
	const n = 250
	srv := newServer(t, 500*time.Millisecond)
	r := start(t, sim.Config{Servers: []string{srv.URL}, Token: srv.token, Agents: n})

	r.waitConnected(t, n)
	waitOnline(t, srv.db, n, n)
	if got := srv.Hub().Connected(); got != n {
		t.Errorf("hub.Connected() = %d, want %d", got, n)
	}
	// Each agent beats once within its first interval.
	st := r.waitStats(t, "a heartbeat round trip per agent", func(st sim.Stats) bool { return st.HeartbeatRTT.Count() >= n })
	if st.TimeToAllConnected <= 0 {
		t.Errorf("Stats.TimeToAllConnected = %s once all were connected, want > 0", st.TimeToAllConnected)
	}
	if p99 := st.HeartbeatRTT.Quantile(0.99); p99 <= 0 || p99 > 10*time.Second {
		t.Errorf("heartbeat RTT p99 = %s, want in (0, 10s]", p99)
	}
	if st.MessagesIn < 2*n || st.MessagesOut < 2*n { // welcome+answer, hello+heartbeat
		t.Errorf("messages in=%d out=%d, want at least %d each", st.MessagesIn, st.MessagesOut, 2*n)
	}
	agents, total, err := srv.db.ListAgents(t.Context(), store.AgentFilter{Query: "sim-00007"}, store.Page{Limit: 10})
	if err != nil || total != 1 {
		t.Fatalf("ListAgents(sim-00007) = %d agents, %v; want 1", total, err)
	}
	if a := agents[0]; a.Hostname != "sim-00007" || a.Version != sim.AgentVersion || a.OS == "" || len(a.IPAddresses) != 1 {
		t.Errorf("agent sim-00007 = %+v, want synthetic facts", a)
	}

	sum := r.stop(t)
	if !sum.OK() || sum.Connected != n || sum.Errors != 0 || sum.Reconnects != 0 {
		t.Errorf("summary = %s; want all %d connected, no errors or reconnects", sum, n)
	}
	if sum.TimeToAllConnected <= 0 || sum.Heartbeats < n || sum.RTTP50 <= 0 || sum.RTTP99 < sum.RTTP50 {
		t.Errorf("summary = %s; want time to all connected and heartbeat round trips", sum)
	}
	if sum.RSS == 0 || sum.Heap == 0 {
		t.Errorf("summary RSS = %d, Heap = %d; want both measured", sum.RSS, sum.Heap)
	}
	// Every connection ended with a close handshake, and the server saw it.
	waitOnline(t, srv.db, n, 0)
	if got := srv.count(`simulation over`); got != n {
		t.Errorf("server logged %d disconnects with the simulator's close reason, want %d", got, n)
	}
}

func TestStateDirReusesIdentities(t *testing.T) {
	srv := newServer(t, time.Second)
	token := srv.token
	dir := filepath.Join(t.TempDir(), "state")
	cfg := sim.Config{Servers: []string{srv.URL}, Token: token, Agents: 40, StateDir: dir}

	r := start(t, cfg)
	r.waitConnected(t, 40)
	r.stop(t)
	first := identities(t, dir)
	if len(first) != 40 {
		t.Fatalf("state file holds %d identities after enrolling 40", len(first))
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, sim.StateFile))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("state file mode = %v, want 0600", perm)
		}
	}

	// More agents: only the missing ones are enrolled.
	cfg.Agents = 60
	r = start(t, cfg)
	r.waitConnected(t, 60)
	r.stop(t)
	waitOnline(t, srv.db, 60, 0)
	second := identities(t, dir)
	if len(second) != 60 || !slices.Equal(second[:40], first) {
		t.Errorf("state file after the second run holds %d identities (first 40 unchanged: %t), want 60",
			len(second), len(second) >= 40 && slices.Equal(second[:40], first))
	}

	// Without a token, saved identities are all it needs.
	cfg.Token = ""
	r = start(t, cfg)
	r.waitConnected(t, 60)
	r.stop(t)
	waitOnline(t, srv.db, 60, 0)

	cfg.Agents = 61
	if _, err := sim.Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("Run(61 agents, 60 saved, no token) error = %v, want one about the token", err)
	}
}

func TestFailoverToNextServer(t *testing.T) {
	const n = 100
	// Two replicas on one PostgreSQL database, as production runs them.
	replicas := newReplicas(t, 2, time.Second)
	a, b := replicas[0], replicas[1]
	r := start(t, sim.Config{
		Servers: []string{a.URL, b.URL}, Token: a.token, Agents: n,
		BackoffBase: 200 * time.Millisecond,
	})
	r.waitConnected(t, n)
	if ca, cb := a.Hub().Connected(), b.Hub().Connected(); ca != n/2 || cb != n/2 {
		t.Errorf("agents on servers = %d, %d; want round-robin %d, %d", ca, cb, n/2, n/2)
	}

	// A graceful stop closes its connections with CloseShutdown.
	if err := a.Stop(); err != nil {
		t.Fatalf("stop the first replica: %v", err)
	}
	waitFor(t, "every agent on the second server", func() bool { return b.Hub().Connected() == n },
		func() string { return fmt.Sprintf("%d on the second server", b.Hub().Connected()) })
	st := r.waitConnected(t, n)
	if st.Reconnects < n/2 || st.Errors < n/2 {
		t.Errorf("after failover reconnects = %d, errors = %d; want at least %d each", st.Reconnects, st.Errors, n/2)
	}
	if !strings.Contains(st.LastError, "4003") && !strings.Contains(st.LastError, "shutting down") {
		t.Logf("last error = %q", st.LastError)
	}
	waitOnline(t, b.db, n, n)
	sum := r.stop(t)
	if !sum.OK() || sum.Reconnects < n/2 {
		t.Errorf("summary = %s; want all connected after %d reconnects", sum, n/2)
	}
}

func TestCommandsAnswered(t *testing.T) {
	const n = 20
	srv := newServer(t, time.Second)
	dir := t.TempDir()
	r := start(t, sim.Config{Servers: []string{srv.URL}, Token: srv.token, Agents: n, StateDir: dir})
	r.waitConnected(t, n)

	sent := 0
	for i, id := range identities(t, dir) {
		c, ok := srv.Hub().Lookup(id.ID)
		if !ok {
			t.Fatalf("hub.Lookup(%s): agent %d not connected", id.ID, id.Index)
		}
		cmds := []protocol.Command{{CommandID: fmt.Sprintf("ping-%d", i), Name: protocol.CommandPing}}
		if i%2 == 0 {
			cmds = append(cmds, protocol.Command{CommandID: fmt.Sprintf("script-%d", i), Name: "script.run"})
		}
		for _, cmd := range cmds {
			if err := c.Send(t.Context(), protocol.TypeCommand, "", cmd); err != nil {
				t.Fatalf("send %s to agent %d: %v", cmd.Name, id.Index, err)
			}
			sent++
		}
	}
	r.waitStats(t, fmt.Sprintf("%d commands answered", sent), func(st sim.Stats) bool { return st.Commands == int64(sent) })
	if sum := r.stop(t); sum.Commands != int64(sent) {
		t.Errorf("summary commands = %d, want %d", sum.Commands, sent)
	}
}

// A command offered again (after a reconnect, or by a replica that finds
// it still open) is not run twice, as with the real agent's ledger: the
// simulator sends its result again instead.
func TestCommandOfferedAgainRunsOnce(t *testing.T) {
	srv := newServer(t, 10*time.Second)
	dir := t.TempDir()
	r := start(t, sim.Config{Servers: []string{srv.URL}, Token: srv.token, Agents: 1, StateDir: dir})
	r.waitConnected(t, 1)
	id := identities(t, dir)[0]
	c, ok := srv.Hub().Lookup(id.ID)
	if !ok {
		t.Fatalf("hub.Lookup(%s): not connected", id.ID)
	}
	for _, cmd := range []protocol.Command{
		{CommandID: "ping-1", Name: protocol.CommandPing},
		{CommandID: "ping-1", Name: protocol.CommandPing},
		{CommandID: "script-1", Name: "script.run"},
		{CommandID: "ping-1", Name: protocol.CommandPing},
		{CommandID: "ping-1", Name: protocol.CommandPing},
	} {
		if err := c.Send(t.Context(), protocol.TypeCommand, "", cmd); err != nil {
			t.Fatalf("send %s: %v", cmd.CommandID, err)
		}
	}
	r.waitStats(t, "2 commands run and 3 offered again", func(st sim.Stats) bool { return st.Commands == 2 && st.Repeated == 3 })
	if sum := r.stop(t); sum.Commands != 2 {
		t.Errorf("summary commands = %d, want 2 (ping-1 once, script-1)", sum.Commands)
	}
}

func TestSourceAddrs(t *testing.T) {
	// Linux routes all of 127.0.0.0/8 to lo; other systems have only
	// 127.0.0.1 unless configured.
	if ln, err := net.Listen("tcp", "127.0.0.4:0"); err != nil {
		t.Skipf("cannot bind 127.0.0.4 on this machine: %v", err)
	} else {
		ln.Close()
	}
	srv := newServer(t, time.Second)
	dir := t.TempDir()
	r := start(t, sim.Config{
		Servers: []string{srv.URL}, Token: srv.token, Agents: 30, StateDir: dir,
		SourceAddrs: "127.0.0.2-127.0.0.4",
	})
	r.waitConnected(t, 30)
	seen := map[string]int{}
	for _, id := range identities(t, dir) {
		a, err := srv.db.Agent(t.Context(), id.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen[a.RemoteAddr]++
	}
	r.stop(t)
	want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for addr := range seen {
			if !yield(addr) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Errorf("agents connected from %v, want %v", seen, want)
	}
}

func TestRampAndDuration(t *testing.T) {
	srv := newServer(t, time.Second)
	begin := time.Now()
	sum, err := sim.Run(t.Context(), sim.Config{
		Servers: []string{srv.URL}, Token: srv.token, Agents: 10, Ramp: 10, Duration: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(begin); took < 2*time.Second {
		t.Errorf("Run with Duration 2s returned after %s", took)
	}
	// Ten agents at ten per second: the last one starts after 0.9s.
	if !sum.OK() || sum.TimeToAllConnected < 900*time.Millisecond {
		t.Errorf("summary = %s; want all connected, the last one no sooner than 0.9s", sum)
	}
}

func TestUnreachableServer(t *testing.T) {
	url := closedPort(t)
	dir := writeIdentities(t, 2)
	sum, err := sim.Run(t.Context(), sim.Config{
		Servers: []string{url}, Agents: 2, StateDir: dir, Duration: time.Second, BackoffBase: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.OK() || sum.Connected != 0 || sum.Errors < 2 || sum.TimeToAllConnected != 0 {
		t.Errorf("summary = %s; want nobody connected and connection errors", sum)
	}
	if !strings.Contains(sum.String(), "time_to_all_connected=never") {
		t.Errorf("summary = %s; want time_to_all_connected=never", sum)
	}
}

// closedPort returns the URL of a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// writeIdentities writes a state directory with n made-up identities.
func writeIdentities(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf(`{"index":%d,"agent_id":"a%d","agent_secret":"s%d"}`, i, i, i))
	}
	doc := `{"version":1,"agents":[` + strings.Join(ids, ",") + `]}`
	if err := os.WriteFile(filepath.Join(dir, sim.StateFile), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
