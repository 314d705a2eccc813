package e2e

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
	"github.com/steward-rmm/steward/internal/store/storetest"
	"github.com/steward-rmm/steward/internal/updates"
)

// rolloutAgents is the simulated fleet of TestUpdateRollout.
const rolloutAgents = 250

// TestUpdateRollout runs the automatic rollout against a real server
// process and simulated agents that really download each release:
// a rollout percentage offers about that share and keeps the same agents
// in as it grows; a release failing on every agent is halted after the
// policy's number of failures and offered no further; and a server
// restart in the middle of a rollout loses nothing (offers queued for
// offline agents are delivered, confirmations are recorded).
func TestUpdateRollout(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { updateRollout(t, "") })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(storetest.EnvPostgresURL) == "" {
			t.Skipf("PostgreSQL rollout run skipped: %s is not set", storetest.EnvPostgresURL)
		}
		updateRollout(t, storetest.NewPostgresDatabase(t))
	})
}

// rollout drives one server and its simulated fleet.
type rollout struct {
	t        *testing.T
	srv      *server
	api      *apiClient
	keys     string // release keygen directory
	releases string // signed release files
	policyID string
	stateDir string
	token    string
	size     int    // of the next release published; 0 is 64 KiB
	window   string // the policy's update window
	sim      *exec.Cmd
	simDone  chan error
	simLog   *logBuffer
}

func updateRollout(t *testing.T, dbURL string) {
	r := &rollout{t: t, releases: t.TempDir(), stateDir: t.TempDir()}
	r.keys, _, _ = newReleaseKeys(t)
	// Batches of 50 every second, downloads spread over 1 s: the rollout
	// takes seconds instead of the production half hour per batch, and a
	// batch is a fifth of the fleet, so that the rollout takes several
	// runs and a failing release can be halted before it reached all.
	r.srv = startServer(t, dbURL, "--release-key", filepath.Join(r.keys, release.PublicKeyFile),
		"--rollout-every", "1s", "--rollout-batch", "50", "--rollout-spread", "1s", "--log-level", "info")
	if _, err := r.srv.cli("rollout-password-1\n", "user", "create", "--email", "owner@example.com", "--role", "owner", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := r.srv.cli("", "user", "api-token", "--email", "owner@example.com", "--name", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	r.api = &apiClient{t: t, base: r.srv.URL, token: firstLine(out)}
	var client, site struct{ ID string }
	r.api.mustDo("POST", "/api/v1/clients", map[string]any{"name": "Fleet Co"}, &client, 201)
	r.api.mustDo("POST", "/api/v1/clients/"+client.ID+"/sites", map[string]any{"name": "Everywhere"}, &site, 201)
	var tok struct{ Token string }
	r.api.mustDo("POST", "/api/v1/sites/"+site.ID+"/enrollment-tokens", map[string]any{"expires_in": "24h"}, &tok, 201)
	r.token = tok.Token

	// The default level's policy: a 20% rollout, halted after more than
	// 5 failed agents.
	var pol struct{ ID string }
	r.api.mustDo("POST", "/api/v1/policies", map[string]any{"name": "Rollout", "document": r.policy(20)}, &pol, 201)
	r.policyID = pol.ID
	r.api.mustDo("PUT", "/api/v1/policy-assignments", map[string]any{"level": "default", "target_id": "", "policy_id": pol.ID}, nil, 200)

	r.startSim("1.0.0")
	waitOnline(t, r.api, rolloutAgents, 2*time.Minute)
	ids := r.agentIDs()

	// Percent: exactly the agents InRollout picks, about 20%, and the same
	// ones stay in at 60%.
	v11 := r.publish("1.1.0")
	in20 := inRollout(ids, "1.1.0", 20)
	if share := float64(len(in20)) / rolloutAgents; share < 0.12 || share > 0.28 {
		t.Errorf("%d of %d agents in a 20%% rollout", len(in20), rolloutAgents)
	}
	r.waitSteps(v11, "20% confirmed", map[string]int{protocol.UpdateConfirmed: len(in20)})
	if got := r.updated(v11); !slices.Equal(got, in20) {
		t.Errorf("agents offered 1.1.0 at 20%%: %d, want the %d InRollout picks", len(got), len(in20))
	}
	r.setPercent(60)
	in60 := inRollout(ids, "1.1.0", 60)
	r.waitSteps(v11, "60% confirmed", map[string]int{protocol.UpdateConfirmed: len(in60)})
	got := r.updated(v11)
	if !slices.Equal(got, in60) {
		t.Errorf("agents offered 1.1.0 at 60%%: %d, want the %d InRollout picks", len(got), len(in60))
	}
	for _, id := range in20 {
		if !slices.Contains(got, id) {
			t.Errorf("agent %s was in the 20%% rollout but not in the 60%% one", id)
		}
	}

	// Halt: 1.3.0 fails on every agent; more than 5 failures halt it, and
	// once halted it is offered to nobody more. The rollout then goes on
	// with 1.1.0, the newest active release, to every agent: when all run
	// it, the job has run many times since the halt.
	r.setPercent(100)
	v13 := r.publish("1.3.0")
	r.waitStatus(v13, "halted")
	offeredAtHalt := len(r.updated(v13))
	var audit struct {
		Items []struct{ Detail map[string]string }
	}
	r.api.mustDo("GET", "/api/v1/audit?action=release.halt&target_id="+v13, nil, &audit, 200)
	if len(audit.Items) != 1 {
		t.Fatalf("release.halt audit entries: %+v", audit.Items)
	}
	// The reason counts the failures the halting run saw.
	why := audit.Items[0].Detail["reason"]
	var failedAtHalt int
	if _, err := fmt.Sscanf(why, "%d agents failed", &failedAtHalt); err != nil || failedAtHalt <= 5 {
		t.Errorf("halt reason %q, want more than 5 agents failed", why)
	}
	// Every agent offered 1.3.0 ends: failed, its offer called back by
	// the halt before it downloaded, or refused (still busy with 1.1.0);
	// none is left waiting to install it.
	waitFor(t, 90*time.Second, "every 1.3.0 offer ended", func() error {
		s := r.steps(v13)
		if s[protocol.UpdateRolledBack]+s[protocol.UpdateFailed]+s[protocol.UpdateCancelled]+s[protocol.UpdateRefused] != offeredAtHalt {
			return fmt.Errorf("steps %v, %d offered", s, offeredAtHalt)
		}
		return nil
	})
	r.waitSteps(v11, "1.1.0 on every agent", map[string]int{protocol.UpdateConfirmed: rolloutAgents})
	if n := len(r.updated(v13)); n != offeredAtHalt {
		t.Errorf("1.3.0 offered to %d agents after its halt, %d before", n, offeredAtHalt)
	}
	if offeredAtHalt >= rolloutAgents {
		t.Errorf("1.3.0 reached all %d agents before the halt", offeredAtHalt)
	}
	t.Logf("1.3.0 halted after %d failures (%q), offered to %d agents, %d offers called back", failedAtHalt, why, offeredAtHalt,
		r.steps(v13)[protocol.UpdateCancelled])

	// Restart: 1.4.0 is offered while the fleet is offline, the server
	// restarts, the fleet comes back and takes the queued offers, and the
	// server restarts again while the agents are swapping.
	r.stopSim()
	waitOnline0(t, r.api)
	v14 := r.publish("1.4.0")
	r.waitSteps(v14, "1.4.0 offered to the offline fleet", map[string]int{"offered": rolloutAgents})
	r.srv.restart()
	r.startSim("1.1.0")
	waitFor(t, 90*time.Second, "the first 1.4.0 downloads", func() error {
		if s := r.steps(v14); s["offered"] == rolloutAgents {
			return fmt.Errorf("steps %v", s)
		}
		return nil
	})
	r.srv.restart()
	r.waitSteps(v14, "1.4.0 confirmed everywhere after the restarts", map[string]int{protocol.UpdateConfirmed: rolloutAgents})
	waitFor(t, 60*time.Second, "every agent online on 1.4.0", func() error {
		var l agentList
		r.api.mustDo("GET", "/api/v1/agents?limit=500", nil, &l, 200)
		for _, a := range l.Items {
			if a.Version != "1.4.0" || !a.Online {
				return fmt.Errorf("agent %s: version %s online %v", a.Hostname, a.Version, a.Online)
			}
		}
		return nil
	})

	// Window: outside the policy's maintenance window every agent takes
	// the offer of 1.5.0 and says it waits, none downloads; the policy
	// opens the window and they all update.
	later := time.Now().Add(6 * time.Hour) // the simulator runs in this machine's time zone
	r.window = fmt.Sprintf("daily %s-%s", later.Format("15:04"), later.Add(time.Hour).Format("15:04"))
	r.setPercent(100)
	v15 := r.publish("1.5.0")
	r.waitSteps(v15, "every agent waiting for the window", map[string]int{protocol.UpdateWaiting: rolloutAgents})
	var v15agents struct {
		Items []struct {
			Reason string `json:"reason"`
		} `json:"items"`
	}
	r.api.mustDo("GET", "/api/v1/releases/"+v15+"/agents?limit=1", nil, &v15agents, 200)
	if len(v15agents.Items) != 1 || !strings.Contains(v15agents.Items[0].Reason, r.window) {
		t.Errorf("waiting reason %+v, want the window %q", v15agents.Items, r.window)
	}
	r.window = ""
	r.setPercent(100)
	r.waitSteps(v15, "1.5.0 confirmed everywhere once the window opened", map[string]int{protocol.UpdateConfirmed: rolloutAgents})
}

// policy is the default level's policy document at percent (with the
// update window r.window).
func (r *rollout) policy(percent float64) map[string]any {
	return map[string]any{"updates": map[string]any{"rollout_percent": percent, "window": r.window,
		"halt": map[string]any{"failed_agents": 5, "failed_percent": 100}}}
}

func (r *rollout) setPercent(percent float64) {
	r.t.Helper()
	r.api.mustDo("PUT", "/api/v1/policies/"+r.policyID, map[string]any{"name": "Rollout", "document": r.policy(percent)}, nil, 200)
}

// publish signs random bytes (r.size, or 64 KiB) as version for
// linux/amd64 and publishes them with the console, as a release manager
// would.
func (r *rollout) publish(version string) string {
	r.t.Helper()
	data := make([]byte, cmp.Or(r.size, 64<<10))
	rand.Read(data)
	return publishBytes(r.t, r.srv, r.api, r.keys, r.releases, protocol.ReleaseStatement{Version: version, OS: "linux", Arch: "amd64"}, data)
}

// publishBytes signs data as the release st (its size and SHA-256 filled
// in) with the private key in keys, publishes it on srv with the release
// CLI from a file written in dir, and returns the release's ID.
func publishBytes(t *testing.T, srv *server, api *apiClient, keys, dir string, st protocol.ReleaseStatement, data []byte) string {
	t.Helper()
	priv, err := release.LoadPrivateKey(filepath.Join(keys, release.PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	st.Size, st.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	signed, err := protocol.SignRelease(priv, st)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "steward-agent-"+st.Version)
	if err := os.WriteFile(file, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+".sig", signed.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.cli("", "release", "publish", "--file", file, "--release-key", filepath.Join(keys, release.PublicKeyFile)); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct{ ID, Version string }
	}
	api.mustDo("GET", "/api/v1/releases?version="+st.Version, nil, &list, 200)
	if len(list.Items) != 1 {
		t.Fatalf("releases of version %s: %+v", st.Version, list.Items)
	}
	return list.Items[0].ID
}

// startSim runs the simulated fleet, every agent linux/amd64 at version
// (what it runs: the simulator does not keep versions across runs),
// failing 1.3.0, downloading each release.
func (r *rollout) startSim(version string) {
	t := r.t
	t.Helper()
	r.simLog = &logBuffer{}
	r.sim = exec.Command(bin(t, "steward-sim"), "--server", r.srv.URL, "--token", r.token,
		"--agents", strconv.Itoa(rolloutAgents), "--state-dir", r.stateDir, "--ramp", "500",
		"--agent-version", version, "--platform", "linux/amd64", "--update-download", "--update-fail-versions", "1.3.0",
		"--report-every", "2s")
	r.sim.Stdout, r.sim.Stderr = r.simLog, r.simLog
	if err := r.sim.Start(); err != nil {
		t.Fatalf("start steward-sim: %v", err)
	}
	done := make(chan error, 1)
	r.simDone = done
	go func() { done <- r.sim.Wait() }()
	cmd, log := r.sim, r.simLog
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(os.Interrupt)
			<-done
		}
		if t.Failed() {
			t.Logf("simulator log (last 4 KiB):\n%s", tail(log.String(), 4096))
		}
	})
}

// stopSim ends the simulator with a normal closure of every connection.
func (r *rollout) stopSim() {
	r.t.Helper()
	r.sim.Process.Signal(os.Interrupt)
	select {
	case <-r.simDone:
	case <-time.After(60 * time.Second):
		r.t.Fatal("steward-sim did not stop within 60s of SIGINT")
	}
}

// agentIDs lists the fleet's agent IDs.
func (r *rollout) agentIDs() []string {
	var l agentList
	r.api.mustDo("GET", "/api/v1/agents?limit=500", nil, &l, 200)
	if len(l.Items) != rolloutAgents {
		r.t.Fatalf("%d agents listed, want %d", len(l.Items), rolloutAgents)
	}
	var ids []string
	for _, a := range l.Items {
		ids = append(ids, a.ID)
	}
	return ids
}

// inRollout is the sorted IDs among ids that a rollout of version at
// percent picks.
func inRollout(ids []string, version string, percent float64) []string {
	var in []string
	for _, id := range ids {
		if updates.InRollout(id, version, percent) {
			in = append(in, id)
		}
	}
	slices.Sort(in)
	return in
}

type releaseAgentsJSON struct {
	Steps map[string]int `json:"steps"`
	Items []struct {
		AgentID string `json:"agent_id"`
		Step    string `json:"step"`
	} `json:"items"`
	Total int `json:"total"`
}

func (r *rollout) releaseAgents(releaseID string) releaseAgentsJSON {
	r.t.Helper()
	var ra releaseAgentsJSON
	r.api.mustDo("GET", "/api/v1/releases/"+releaseID+"/agents?limit=500", nil, &ra, 200)
	return ra
}

// updated is the sorted IDs of the agents a release was offered to.
func (r *rollout) updated(releaseID string) []string {
	var ids []string
	for _, it := range r.releaseAgents(releaseID).Items {
		ids = append(ids, it.AgentID)
	}
	slices.Sort(ids)
	return ids
}

// steps counts a release's agents by their last step.
func (r *rollout) steps(releaseID string) map[string]int {
	return r.releaseAgents(releaseID).Steps
}

// waitSteps waits until the release's step counts hold want.
func (r *rollout) waitSteps(releaseID, what string, want map[string]int) {
	r.t.Helper()
	waitFor(r.t, 90*time.Second, what, func() error {
		got := r.steps(releaseID)
		for step, n := range want {
			if got[step] != n {
				return fmt.Errorf("steps %v, want %v", got, want)
			}
		}
		return nil
	})
}

// waitStatus waits until the release has status.
func (r *rollout) waitStatus(releaseID, status string) {
	r.t.Helper()
	waitFor(r.t, 90*time.Second, "release "+status, func() error {
		var rel struct{ Status string }
		r.api.mustDo("GET", "/api/v1/releases/"+releaseID, nil, &rel, 200)
		if rel.Status != status {
			return fmt.Errorf("status %s, steps %v", rel.Status, r.steps(releaseID))
		}
		return nil
	})
}

// waitOnline0 waits until no agent is online.
func waitOnline0(t *testing.T, api *apiClient) {
	t.Helper()
	waitFor(t, 30*time.Second, "every agent offline", func() error {
		var st statusJSON
		api.mustDo("GET", "/api/v1/status", nil, &st, 200)
		if st.Agents.Online != 0 {
			return fmt.Errorf("%d online", st.Agents.Online)
		}
		return nil
	})
}

// simPerFleetProcess bounds the agents of one simulator process that
// downloads releases too.
const simPerFleetProcess = 5000

// startSimFleet starts simulator processes for n agents in all, up to
// simPerFleetProcess each, each from its own source addresses (every agent
// holds its control connection and may open a download one), and stops
// them at the end of the test. It returns their logs.
func startSimFleet(t *testing.T, serverURL, token string, n int, stateDir string, extra ...string) []*logBuffer {
	t.Helper()
	var (
		sims    []*exec.Cmd
		simLogs []*logBuffer
	)
	t.Cleanup(func() {
		for _, s := range sims {
			s.Process.Signal(os.Interrupt)
		}
		for _, s := range sims {
			s.Wait()
		}
		if t.Failed() {
			for _, l := range simLogs {
				t.Logf("simulator log (last 2 KiB):\n%s", tail(l.String(), 2048))
			}
		}
	})
	for i, left := 0, n; left > 0; i++ {
		k := min(left, simPerFleetProcess)
		left -= k
		log := &logBuffer{}
		args := append([]string{"--server", serverURL, "--token", token, "--agents", strconv.Itoa(k),
			"--state-dir", filepath.Join(stateDir, strconv.Itoa(i)), "--name-prefix", fmt.Sprintf("sim%d-", i),
			"--source-addrs", fmt.Sprintf("127.0.%d.1-127.0.%d.250", i+1, i+1), "--ramp", "1000", "--report-every", "5s"}, extra...)
		cmd := exec.Command(bin(t, "steward-sim"), args...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start steward-sim: %v", err)
		}
		sims, simLogs = append(sims, cmd), append(simLogs, log)
	}
	return simLogs
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Benchmark settings of TestRolloutBench.
const (
	// EnvBenchRollout turns TestRolloutBench on: the fleet size.
	EnvBenchRollout = "STEWARD_BENCH_ROLLOUT"
	// EnvBenchRolloutMB is the release size in MiB (default 7).
	EnvBenchRolloutMB = "STEWARD_BENCH_ROLLOUT_MB"
	// EnvBenchRolloutFlags are extra steward serve flags, space-separated
	// (the rollout settings, by default "--rollout-every 5s
	// --rollout-batch 2000 --rollout-spread 60s").
	EnvBenchRolloutFlags = "STEWARD_BENCH_ROLLOUT_FLAGS"
)

// TestRolloutBench is the rollout benchmark of docs/benchmarks.md, not a
// CI test: a release of realistic size rolled out at 100% to a simulated
// fleet that downloads it for real, then a release that fails everywhere,
// halted by the default policy's rules. It logs what it measured.
func TestRolloutBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(EnvBenchRollout))
	if n <= 0 {
		t.Skipf("rollout benchmark skipped: set %s=10000 to run it", EnvBenchRollout)
	}
	mb := 7.0
	if v := os.Getenv(EnvBenchRolloutMB); v != "" {
		var err error
		if mb, err = strconv.ParseFloat(v, 64); err != nil || mb <= 0 {
			t.Fatalf("%s=%q: want a size in MiB", EnvBenchRolloutMB, v)
		}
	}
	flags := []string{"--rollout-every", "5s", "--rollout-batch", "2000", "--rollout-spread", "60s"}
	if v := os.Getenv(EnvBenchRolloutFlags); v != "" {
		flags = strings.Fields(v)
	}
	dbURL := ""
	if os.Getenv(storetest.EnvPostgresURL) != "" && os.Getenv("STEWARD_BENCH_ROLLOUT_DB") == "postgres" {
		dbURL = storetest.NewPostgresDatabase(t)
	}
	r := &rollout{t: t, keys: filepath.Join(t.TempDir(), "keys"), releases: t.TempDir(), stateDir: t.TempDir()}
	if out, err := exec.Command(bin(t, "steward"), "release", "keygen", "--out", r.keys).CombinedOutput(); err != nil {
		t.Fatalf("release keygen: %v\n%s", err, out)
	}
	bf := newBenchFleet(t, dbURL, append([]string{"--release-key", filepath.Join(r.keys, release.PublicKeyFile),
		"--heartbeat", "30s", "--log-level", "warn"}, flags...)...)
	r.srv, r.api = bf.srv, bf.api
	tok := struct{ Token string }{bf.token}
	simLogs := startSimFleet(t, r.srv.URL, tok.Token, n, r.stateDir,
		"--agent-version", "1.0.0", "--platform", "linux/amd64", "--update-download", "--update-fail-versions", "2.0.0")
	waitOnline(t, r.api, n, 10*time.Minute)
	pid := r.srv.cmd.Process.Pid
	rssBefore := procStatusKB(t, pid, "VmRSS")

	size := int(mb * (1 << 20))
	good := r.publishSize("1.1.0", size)
	start := time.Now()
	cpu0 := procCPU(t, pid)
	var (
		peakRSS       float64
		firstDownload time.Time
		steps         map[string]int
	)
	for {
		steps = r.steps(good)
		peakRSS = max(peakRSS, procStatusKB(t, pid, "VmRSS"))
		if firstDownload.IsZero() && steps[protocol.UpdateDownloading] > 0 {
			firstDownload = time.Now()
		}
		if steps[protocol.UpdateConfirmed] == n {
			break
		}
		if time.Since(start) > 30*time.Minute {
			t.Fatalf("not all confirmed after 30 minutes: %v", steps)
		}
		time.Sleep(time.Second) // a benchmark's sampling interval, not a synchronisation
	}
	elapsed := time.Since(start)
	cpu := procCPU(t, pid) - cpu0
	served := float64(n) * float64(size)
	downloadWindow := time.Since(firstDownload)
	t.Logf("rollout of a %.1f MiB release to %d agents at 100%% (serve flags %v): all confirmed after %s; first download %s after publishing",
		mb, n, flags, elapsed.Round(time.Second), firstDownload.Sub(start).Round(time.Second))
	t.Logf("server CPU %.1f s (%.0f%% of one core over the rollout); RSS %.1f MiB before, peak %.1f MiB during, high-water mark %.1f MiB",
		cpu, 100*cpu/elapsed.Seconds(), rssBefore/1024, peakRSS/1024, procStatusKB(t, pid, "VmHWM")/1024)
	t.Logf("served %.1f GiB: %.1f MiB/s over the rollout, %.1f MiB/s from the first download to the last confirmation",
		served/(1<<30), served/(1<<20)/elapsed.Seconds(), served/(1<<20)/downloadWindow.Seconds())
	for i, l := range simLogs {
		lines := strings.Split(strings.TrimSpace(l.String()), "\n")
		t.Logf("simulator %d: %s", i, lines[len(lines)-1])
	}

	// A release failing everywhere, to the same fleet at 100%, under the
	// default halt rules (more than 20 agents, or more than 10% of at
	// least 10 that tried).
	bad := r.publishSize("2.0.0", 64<<10)
	start = time.Now()
	r.waitStatus(bad, "halted")
	halted := time.Since(start)
	var audit struct {
		Items []struct{ Detail map[string]string }
	}
	r.api.mustDo("GET", "/api/v1/audit?action=release.halt&target_id="+bad, nil, &audit, 200)
	offered := r.releaseAgentsTotal(bad)
	var failed, cancelled int
	waitFor(t, 5*time.Minute, "every offered agent failed or had its offer called back", func() error {
		s := r.steps(bad)
		failed, cancelled = s[protocol.UpdateRolledBack]+s[protocol.UpdateFailed], s[protocol.UpdateCancelled]
		if failed+cancelled != offered {
			return fmt.Errorf("steps %v, %d offered", s, offered)
		}
		return nil
	})
	if n := r.releaseAgentsTotal(bad); n != offered {
		t.Errorf("2.0.0 offered to %d agents after its halt, %d before", n, offered)
	}
	t.Logf("bad release halted %s after publishing: %v; offered to %d agents: %d failed, %d offers called back (%s of them at the halt)",
		halted.Round(100*time.Millisecond), audit.Items[0].Detail["reason"], offered, failed, cancelled, audit.Items[0].Detail["offers_cancelled"])
}

// publishSize publishes size random bytes as version (see publish).
func (r *rollout) publishSize(version string, size int) string {
	r.size = size
	defer func() { r.size = 0 }()
	return r.publish(version)
}

// releaseAgentsTotal counts the agents a release was offered to.
func (r *rollout) releaseAgentsTotal(releaseID string) int {
	r.t.Helper()
	var ra releaseAgentsJSON
	r.api.mustDo("GET", "/api/v1/releases/"+releaseID+"/agents?limit=1", nil, &ra, 200)
	return ra.Total
}

// procStatusKB reads a kB field of /proc/PID/status (VmRSS, VmHWM).
func procStatusKB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}
