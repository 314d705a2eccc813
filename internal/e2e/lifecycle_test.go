package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

type agentJSON struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname"`
	OS       string    `json:"os"`
	Version  string    `json:"version"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen"`
	ClientID string    `json:"client_id"`
	SiteID   string    `json:"site_id"`
}

type agentList struct {
	Items []agentJSON `json:"items"`
	Total int         `json:"total"`
}

// TestAgentLifecycle walks the foundation end to end with real processes:
// console user and token, API tenancy, agent enrollment, online, offline
// after a kill, and reconnection after a server restart.
func TestAgentLifecycle(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAgentLifecycle(t, "") })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(storetest.EnvPostgresURL) == "" {
			t.Skipf("PostgreSQL end-to-end test skipped: %s is not set", storetest.EnvPostgresURL)
		}
		testAgentLifecycle(t, storetest.NewPostgresDatabase(t))
	})
}

func testAgentLifecycle(t *testing.T, dbURL string) {
	srv := startServer(t, dbURL)

	if _, err := srv.cli("correct-horse-battery\n", "user", "create", "--email", "Owner@Example.com", "--role", "owner", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := srv.cli("", "user", "api-token", "--email", "owner@example.com", "--name", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{t: t, base: srv.URL, token: firstLine(out)}
	if !strings.HasPrefix(api.token, "stw_") {
		t.Fatalf("api-token printed %q, want a stw_ token", out)
	}

	var client, site struct{ ID string }
	api.mustDo("POST", "/api/v1/clients", map[string]any{"name": "Acme Dental"}, &client, 201)
	api.mustDo("POST", "/api/v1/clients/"+client.ID+"/sites", map[string]any{"name": "Main Office"}, &site, 201)
	var tok struct{ Token string }
	api.mustDo("POST", "/api/v1/sites/"+site.ID+"/enrollment-tokens", map[string]any{"expires_in": "24h", "max_uses": 1}, &tok, 201)

	config := filepath.Join(t.TempDir(), "agent.json")
	install := exec.Command(bin(t, "steward-agent"), "install", "--no-service", "--server", srv.URL, "--token", tok.Token, "--config", config)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("steward-agent install: %v\n%s", err, out)
	}
	if fi, err := os.Stat(config); err != nil {
		t.Fatalf("config not written: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", fi.Mode().Perm())
	}

	// The token allowed one use: a second machine is refused with a reason.
	second := exec.Command(bin(t, "steward-agent"), "install", "--no-service", "--server", srv.URL, "--token", tok.Token,
		"--config", filepath.Join(t.TempDir(), "agent.json"))
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "maximum number of uses") {
		t.Errorf("second install with a one-use token: err=%v output=%q, want failure naming the used-up token", err, out)
	}

	agent := startAgent(t, config)
	online := waitAgent(t, api, true)
	host, _ := os.Hostname()
	if online.Hostname != host || online.ClientID != client.ID || online.SiteID != site.ID || online.OS == "" || online.Version == "" {
		t.Errorf("agent = %+v, want hostname %q in client %s site %s with os and version", online, host, client.ID, site.ID)
	}
	waitFor(t, 10*time.Second, "steward-agent status reports connected", func() error {
		status := exec.Command(bin(t, "steward-agent"), "status", "--config", config)
		status.Env = agentEnv(t, config)
		out, err := status.CombinedOutput()
		if err != nil || !strings.Contains(strings.ToLower(string(out)), "connected") {
			return fmt.Errorf("status: %v: %s", err, out)
		}
		return nil
	})

	// A ping goes to the agent and its answer is stored.
	var ping struct {
		ID           string          `json:"id"`
		State        string          `json:"state"`
		ResultStatus string          `json:"result_status"`
		Output       json.RawMessage `json:"output"`
	}
	api.mustDo("POST", "/api/v1/agents/"+online.ID+"/commands", map[string]any{"name": "ping"}, &ping, 201)
	waitFor(t, 10*time.Second, "ping answered", func() error {
		api.mustDo("GET", "/api/v1/commands/"+ping.ID, nil, &ping, 200)
		if ping.State != "done" {
			return fmt.Errorf("ping state %q", ping.State)
		}
		return nil
	})
	if ping.ResultStatus != "ok" || !strings.Contains(string(ping.Output), "agent_time") {
		t.Errorf("ping result = %+v, want ok with agent_time", ping)
	}

	// The agent reports its inventory when it starts: this host's real
	// packages, found again by a fleet-wide software search.
	type inventoryJSON struct {
		Reason        string    `json:"reason"`
		CollectedAt   time.Time `json:"collected_at"`
		SoftwareCount int       `json:"software_count"`
		OS            struct{ Name, Arch string }
		Hardware      struct {
			CPU struct{ Threads int }
		}
		Software []struct{ Name, Version, Source string }
	}
	var inv inventoryJSON
	waitFor(t, 20*time.Second, "start inventory stored", func() error {
		if code := api.do("GET", "/api/v1/agents/"+online.ID+"/inventory", nil, &inv); code != 200 {
			return fmt.Errorf("inventory: HTTP %d", code)
		}
		return nil
	})
	if inv.Reason != "start" || inv.SoftwareCount == 0 || len(inv.Software) != inv.SoftwareCount || inv.Hardware.CPU.Threads == 0 || inv.OS.Arch == "" {
		t.Errorf("start inventory = reason %q, %d/%d programs, %d threads, arch %q; want a full start report",
			inv.Reason, len(inv.Software), inv.SoftwareCount, inv.Hardware.CPU.Threads, inv.OS.Arch)
	}
	if len(inv.Software) > 0 {
		probe := inv.Software[len(inv.Software)/2]
		var found struct {
			Items []struct {
				AgentID string `json:"agent_id"`
				Version string
			}
		}
		api.mustDo("GET", "/api/v1/software?name="+url.QueryEscape(probe.Name)+"&version="+url.QueryEscape(probe.Version), nil, &found, 200)
		if !slices.ContainsFunc(found.Items, func(it struct {
			AgentID string `json:"agent_id"`
			Version string
		}) bool {
			return it.AgentID == online.ID && it.Version == probe.Version
		}) {
			t.Errorf("software search for %q %q = %+v, want agent %s", probe.Name, probe.Version, found.Items, online.ID)
		}
	}
	// On request, the agent reports again and the command's answer counts
	// the programs; the history holds the first report.
	var invCmd struct {
		ID           string          `json:"id"`
		State        string          `json:"state"`
		ResultStatus string          `json:"result_status"`
		Output       json.RawMessage `json:"output"`
	}
	api.mustDo("POST", "/api/v1/agents/"+online.ID+"/commands", map[string]any{"name": "inventory"}, &invCmd, 201)
	waitFor(t, 30*time.Second, "inventory command answered", func() error {
		api.mustDo("GET", "/api/v1/commands/"+invCmd.ID, nil, &invCmd, 200)
		if invCmd.State != "done" {
			return fmt.Errorf("inventory command state %q", invCmd.State)
		}
		return nil
	})
	var invOut struct{ Software int }
	json.Unmarshal(invCmd.Output, &invOut)
	if invCmd.ResultStatus != "ok" || invOut.Software == 0 {
		t.Errorf("inventory command result = %s %s, want ok with a software count", invCmd.ResultStatus, invCmd.Output)
	}
	api.mustDo("GET", "/api/v1/agents/"+online.ID+"/inventory", nil, &inv, 200)
	if inv.Reason != "request" {
		t.Errorf("inventory after the command has reason %q, want request", inv.Reason)
	}
	var history struct {
		Items []struct{ Kind string }
	}
	api.mustDo("GET", "/api/v1/agents/"+online.ID+"/inventory/history", nil, &history, 200)
	if len(history.Items) == 0 || history.Items[len(history.Items)-1].Kind != "first_report" {
		t.Errorf("inventory history = %+v, want it to start with first_report", history.Items)
	}

	// The agent runs the policy from its welcome; a change to its site's
	// policy reaches the running agent, which acknowledges it.
	firstRev := waitPolicy(t, api, online.ID, "")
	var pol struct{ ID string }
	api.mustDo("POST", "/api/v1/policies", map[string]any{"name": "Fast office", "document": map[string]any{
		"metrics": map[string]any{"interval": "5s", "enabled": map[string]any{"network": false}}}}, &pol, 201)
	api.mustDo("PUT", "/api/v1/policy-assignments", map[string]any{"level": "site", "target_id": site.ID, "policy_id": pol.ID}, nil, 200)
	secondRev := waitPolicy(t, api, online.ID, firstRev)
	if secondRev == firstRev {
		t.Errorf("policy revision unchanged after a site policy change")
	}

	// Metrics arrive through the API, and the new policy changes what the
	// agent sends: every 5 s, and no network metrics any more.
	applied := time.Now().UTC().Add(time.Second)
	waitMetric(t, api, online.ID, "cpu.percent", applied, 2)
	var names struct{ Items []string }
	api.mustDo("GET", "/api/v1/agents/"+online.ID+"/metrics?from="+applied.Format(time.RFC3339), nil, &names, 200)
	for _, n := range names.Items {
		if strings.HasPrefix(n, "net.") {
			t.Errorf("agent still sends %s after the policy turned network metrics off", n)
		}
	}
	if !slices.Contains(names.Items, "memory.percent") {
		t.Errorf("metrics since the policy change = %v, want memory.percent among them", names.Items)
	}

	// A threshold set low raises an alert as samples arrive, notified to a
	// webhook with a valid signature; raising it again resolves the alert.
	hook := newWebhook(t, "e2e-webhook-secret-0123456789")
	api.mustDo("POST", "/api/v1/notification-channels", map[string]any{"name": "Ops hook", "url": hook.URL,
		"secret": "e2e-webhook-secret-0123456789", "min_severity": "warning"}, nil, 201)
	api.mustDo("PUT", "/api/v1/policies/"+pol.ID, map[string]any{"name": "Fast office", "document": map[string]any{
		"metrics":    map[string]any{"interval": "5s", "enabled": map[string]any{"network": false}},
		"thresholds": map[string]any{"memory": map[string]any{"trigger": 1, "clear": 0.5, "for": "0s"}}}}, nil, 200)
	alert := waitAlert(t, api, online.ID, "unresolved")
	if alert.Rule != "memory" || alert.Severity != "warning" {
		t.Errorf("alert = %+v, want a warning on the memory rule", alert)
	}
	api.mustDo("POST", "/api/v1/alerts/"+alert.ID+"/acknowledge", nil, nil, 200)
	api.mustDo("PUT", "/api/v1/policies/"+pol.ID, map[string]any{"name": "Fast office", "document": map[string]any{
		"metrics":    map[string]any{"interval": "5s", "enabled": map[string]any{"network": false}},
		"thresholds": map[string]any{"memory": map[string]any{"trigger": 99.9, "clear": 99.5, "for": "0s"}}}}, nil, 200)
	resolved := waitAlert(t, api, online.ID, "resolved")
	if resolved.ID != alert.ID || resolved.AcknowledgedBy == "" {
		t.Errorf("resolved alert = %+v, want %s acknowledged then resolved", resolved, alert.ID)
	}
	hook.wait(t, "alert.opened", alert.ID)
	hook.wait(t, "alert.resolved", alert.ID)

	// The server goes away for a while; the agent keeps collecting into its
	// buffer and delivers those samples after the server returns.
	// The outage lasts until the agent has buffered two samples taken
	// after the server stopped (one every 5 s).
	srv.stop()
	down := time.Now().UTC()
	waitFor(t, 30*time.Second, "two samples buffered during the outage", func() error {
		if n := bufferedSince(t, config, down); n < 2 {
			return fmt.Errorf("%d samples buffered since the server stopped", n)
		}
		return nil
	})
	up := time.Now().UTC()
	srv.start()
	waitAgent(t, api, true)
	waitMetricBetween(t, api, online.ID, "cpu.percent", down, up, 2)

	// A killed agent drops its socket: the server marks it offline.
	agent.kill()
	waitAgent(t, api, false)

	// Back again, then the server restarts: the agent reconnects by itself.
	startAgent(t, config)
	waitAgent(t, api, true)
	srv.restart()
	waitAgent(t, api, true)

	// A batch to the whole fleet after the restart reaches the agent too.
	var batch struct {
		ID       string
		Agents   int
		Finished int
		States   map[string]int
	}
	api.mustDo("POST", "/api/v1/commands", map[string]any{"name": "ping", "target": map[string]any{"all": true}}, &batch, 201)
	waitFor(t, 10*time.Second, "batch finished", func() error {
		api.mustDo("GET", "/api/v1/command-batches/"+batch.ID, nil, &batch, 200)
		if batch.Finished != batch.Agents {
			return fmt.Errorf("batch %+v", batch)
		}
		return nil
	})
	if batch.Agents != 1 || batch.States["done"] != 1 {
		t.Errorf("batch = %+v, want 1 agent done", batch)
	}

	var status struct {
		Version       string `json:"version"`
		UptimeSeconds *int64 `json:"uptime_seconds"`
		Agents        struct{ Total, Online int }
	}
	api.mustDo("GET", "/api/v1/status", nil, &status, 200)
	if status.Version == "" || status.UptimeSeconds == nil || status.Agents.Total != 1 || status.Agents.Online != 1 {
		t.Errorf("status = %+v, want version, uptime and 1/1 agents", status)
	}
	var audit struct {
		Items []struct{ Action string }
	}
	api.mustDo("GET", "/api/v1/audit?limit=100", nil, &audit, 200)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"user.create", "api_token.create", "client.create", "site.create", "enrollment_token.create", "agent.enroll"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit actions %v lack %s", actions, want)
		}
	}
}

// waitAgent polls the API until exactly one agent exists with the wanted
// online state.
func waitAgent(t *testing.T, api *apiClient, online bool) agentJSON {
	t.Helper()
	var got agentJSON
	waitFor(t, 30*time.Second, fmt.Sprintf("agent online=%v", online), func() error {
		var l agentList
		if code := api.do("GET", fmt.Sprintf("/api/v1/agents?online=%v", online), nil, &l); code != 200 {
			return fmt.Errorf("list agents: %d", code)
		}
		if l.Total != 1 || len(l.Items) != 1 {
			return fmt.Errorf("%d agents with online=%v", l.Total, online)
		}
		got = l.Items[0]
		return nil
	})
	return got
}

// waitPolicy waits until the agent acknowledges running its effective
// policy with a revision other than not, and returns that revision.
func waitPolicy(t *testing.T, api *apiClient, agentID, not string) string {
	t.Helper()
	var eff struct {
		Revision      string `json:"revision"`
		AgentRevision string `json:"agent_revision"`
		UpToDate      bool   `json:"up_to_date"`
	}
	waitFor(t, 15*time.Second, "agent running its effective policy", func() error {
		api.mustDo("GET", "/api/v1/agents/"+agentID+"/effective-policy", nil, &eff, 200)
		if !eff.UpToDate || eff.Revision == not {
			return fmt.Errorf("effective revision %s, agent runs %q", eff.Revision, eff.AgentRevision)
		}
		return nil
	})
	return eff.Revision
}

// waitMetric waits until the agent has at least n points of metric since
// from.
func waitMetric(t *testing.T, api *apiClient, agentID, metric string, from time.Time, n int) {
	t.Helper()
	waitMetricBetween(t, api, agentID, metric, from, time.Time{}, n)
}

// waitMetricBetween waits until the agent has at least n points of metric
// in [from, to); a zero to means now.
// bufferedSince counts the samples taken after since in the metrics buffer
// of the agent configured at config: one JSON sample a line in
// metrics-buffer/samples.jsonl. A line the agent is still writing is
// skipped.
func bufferedSince(t *testing.T, config string, since time.Time) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(config), "metrics-buffer", "samples.jsonl"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("read the agent's metrics buffer: %v", err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		var s struct {
			T time.Time `json:"t"`
		}
		if json.Unmarshal([]byte(l), &s) == nil && s.T.After(since) {
			n++
		}
	}
	return n
}

func waitMetricBetween(t *testing.T, api *apiClient, agentID, metric string, from, to time.Time, n int) {
	t.Helper()
	var series struct {
		Points []struct {
			T time.Time `json:"t"`
			V float64   `json:"v"`
		} `json:"points"`
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("%d points of %s", n, metric), func() error {
		end := to
		if end.IsZero() {
			end = time.Now().UTC().Add(time.Minute)
		}
		api.mustDo("GET", "/api/v1/agents/"+agentID+"/metrics?metric="+metric+"&from="+from.Format(time.RFC3339Nano)+"&to="+end.Format(time.RFC3339Nano), nil, &series, 200)
		if len(series.Points) < n {
			return fmt.Errorf("%d points", len(series.Points))
		}
		return nil
	})
}

type alertJSON struct {
	ID             string `json:"id"`
	Rule           string `json:"rule"`
	Severity       string `json:"severity"`
	State          string `json:"state"`
	AcknowledgedBy string `json:"acknowledged_by"`
}

// waitAlert waits until the agent has an alert in the given state.
func waitAlert(t *testing.T, api *apiClient, agentID, state string) alertJSON {
	t.Helper()
	var list struct {
		Items []alertJSON `json:"items"`
	}
	waitFor(t, 30*time.Second, "an alert in state "+state, func() error {
		api.mustDo("GET", "/api/v1/alerts?agent_id="+agentID+"&state="+state, nil, &list, 200)
		if len(list.Items) == 0 {
			return fmt.Errorf("no %s alert", state)
		}
		return nil
	})
	return list.Items[0]
}

// webhook is a local notification receiver that checks signatures.
type webhook struct {
	*httptest.Server
	mu     sync.Mutex
	events []string // "event alert_id"
	bad    int
}

func newWebhook(t *testing.T, secret string) *webhook {
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if notify.Sign(secret, r.Header.Get(notify.HeaderTimestamp), body) != r.Header.Get(notify.HeaderSignature) {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n struct {
			Event string `json:"event"`
			Alert struct {
				ID string `json:"id"`
			} `json:"alert"`
		}
		json.Unmarshal(body, &n)
		h.events = append(h.events, n.Event+" "+n.Alert.ID)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *webhook) wait(t *testing.T, event, alertID string) {
	t.Helper()
	waitFor(t, 30*time.Second, "webhook "+event, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.bad > 0 {
			t.Fatalf("webhook received %d requests with a bad signature", h.bad)
		}
		if !slices.Contains(h.events, event+" "+alertID) {
			return fmt.Errorf("received %v", h.events)
		}
		return nil
	})
}
