package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store/storetest"
)

// EnvNATSURL names the NATS server the replica tests use.
const EnvNATSURL = "STEWARD_TEST_NATS_URL"

type statusJSON struct {
	Agents   struct{ Total, Online int }
	Replicas []struct {
		ID   string `json:"id"`
		Jobs bool   `json:"jobs"`
	}
}

// TestTwoReplicas runs two replicas on one PostgreSQL database and a NATS
// bus: agents connected to replica A answer commands issued through
// replica B's API; when A dies, the agents move to B, the background jobs
// move to B, and nothing is lost.
func TestTwoReplicas(t *testing.T) {
	natsURL := os.Getenv(EnvNATSURL)
	if natsURL == "" || os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Skipf("replica test skipped: set %s and %s (e.g. nats://127.0.0.1:4222)", storetest.EnvPostgresURL, EnvNATSURL)
	}
	dbURL := storetest.NewPostgresDatabase(t)
	a := startServer(t, dbURL, "--nats-url", natsURL)
	b := startServer(t, dbURL, "--nats-url", natsURL)

	if _, err := a.cli("replica-password-1\n", "user", "create", "--email", "ops@example.com", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := b.cli("", "user", "api-token", "--email", "ops@example.com", "--name", "replicas")
	if err != nil {
		t.Fatal(err)
	}
	apiA := &apiClient{t: t, base: a.URL, token: firstLine(out)}
	apiB := &apiClient{t: t, base: b.URL, token: firstLine(out)}

	var client, site struct{ ID string }
	apiB.mustDo("POST", "/api/v1/clients", map[string]any{"name": "Replicated"}, &client, 201)
	apiB.mustDo("POST", "/api/v1/clients/"+client.ID+"/sites", map[string]any{"name": "HQ"}, &site, 201)
	var tok struct{ Token string }
	apiB.mustDo("POST", "/api/v1/sites/"+site.ID+"/enrollment-tokens", map[string]any{"expires_in": "1h"}, &tok, 201)

	// The agent knows both replicas and starts on A.
	config := filepath.Join(t.TempDir(), "agent.json")
	install := exec.Command(bin(t, "steward-agent"), "install", "--no-service", "--server", a.URL+","+b.URL, "--token", tok.Token, "--config", config)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("steward-agent install: %v\n%s", err, out)
	}
	first := startAgent(t, config)
	agent := waitAgent(t, apiB, true)
	waitFor(t, 10*time.Second, "agent held by replica A", func() error {
		if !strings.Contains(a.log.String(), "agent connected") {
			return fmt.Errorf("replica A has not logged the agent")
		}
		return nil
	})

	// Both replicas are listed; exactly one runs the background jobs.
	var st statusJSON
	waitFor(t, 10*time.Second, "two replicas, one running jobs", func() error {
		apiA.mustDo("GET", "/api/v1/status", nil, &st, 200)
		jobs := 0
		for _, r := range st.Replicas {
			if r.Jobs {
				jobs++
			}
		}
		if len(st.Replicas) != 2 || jobs != 1 {
			return fmt.Errorf("status replicas = %+v", st.Replicas)
		}
		return nil
	})

	// A command issued on B reaches the agent on A over the bus, and so
	// does a policy change made through B.
	ping(t, apiB, agent.ID)
	before := waitPolicy(t, apiB, agent.ID, "")
	var pol struct{ ID string }
	apiB.mustDo("POST", "/api/v1/policies", map[string]any{"name": "Replicated", "document": map[string]any{
		"inventory": map[string]any{"interval": "6h"}}}, &pol, 201)
	apiB.mustDo("PUT", "/api/v1/policy-assignments", map[string]any{"level": "client", "target_id": client.ID, "policy_id": pol.ID}, nil, 200)
	waitPolicy(t, apiB, agent.ID, before)

	// A browser on B sees presence changes of an agent held by A.
	events := openEvents(t, b.URL, "ops@example.com", "replica-password-1")
	first.kill()
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no presence event reached a dashboard stream on replica B")
	}
	waitAgent(t, apiB, false)
	startAgent(t, config)
	waitAgent(t, apiB, true)
	ping(t, apiB, agent.ID)

	// Replica A dies without cleaning up; the agent moves to B.
	a.kill()
	waitFor(t, 20*time.Second, "agent reconnected to replica B", func() error {
		if !strings.Contains(b.log.String(), "agent connected") {
			return fmt.Errorf("replica B has not logged the agent")
		}
		return nil
	})
	waitAgent(t, apiB, true)
	ping(t, apiB, agent.ID)

	// B takes over the background jobs once A's lease lapses.
	waitFor(t, 20*time.Second, "replica B runs the jobs", func() error {
		apiB.mustDo("GET", "/api/v1/status", nil, &st, 200)
		if len(st.Replicas) != 1 || !st.Replicas[0].Jobs {
			return fmt.Errorf("status replicas = %+v", st.Replicas)
		}
		return nil
	})
}

// ping sends a ping through api and waits for the stored answer.
func ping(t *testing.T, api *apiClient, agentID string) {
	t.Helper()
	var cmd struct {
		ID           string          `json:"id"`
		State        string          `json:"state"`
		ResultStatus string          `json:"result_status"`
		Output       json.RawMessage `json:"output"`
	}
	api.mustDo("POST", "/api/v1/agents/"+agentID+"/commands", map[string]any{"name": "ping"}, &cmd, 201)
	waitFor(t, 15*time.Second, "ping answered", func() error {
		api.mustDo("GET", "/api/v1/commands/"+cmd.ID, nil, &cmd, 200)
		if cmd.State != "done" {
			return fmt.Errorf("ping state %q", cmd.State)
		}
		return nil
	})
	if cmd.ResultStatus != "ok" || !strings.Contains(string(cmd.Output), "agent_time") {
		t.Errorf("ping result = %+v, want ok with agent_time", cmd)
	}
}

// TestSQLiteOneReplica checks that a second server on the same SQLite
// data directory refuses to start with a clear error.
func TestSQLiteOneReplica(t *testing.T) {
	first := startServer(t, "")
	second := exec.Command(bin(t, "steward"), "serve", "--listen", freeAddr(t), "--data-dir", first.dataDir)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "one replica only") {
		t.Errorf("second server on one SQLite dir: err=%v output=%q, want a refusal naming the one-replica limit", err, out)
	}
	nats := exec.Command(bin(t, "steward"), "serve", "--listen", freeAddr(t), "--data-dir", t.TempDir(), "--nats-url", "nats://127.0.0.1:4222")
	out, err = nats.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "PostgreSQL") {
		t.Errorf("--nats-url with SQLite: err=%v output=%q, want a refusal asking for PostgreSQL", err, out)
	}
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// dashboardClient logs in to the dashboard at base and returns an HTTP
// client holding the session.
func dashboardClient(t *testing.T, base, email, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the login page")
	}
	resp, err = hc.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "csrf_token": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path == "/login" {
		t.Fatalf("login on %s failed", base)
	}
	return hc
}

// openEvents logs in to the dashboard at base and returns a channel that
// receives once per presence event on its event stream.
func openEvents(t *testing.T, base, email, password string) <-chan struct{} {
	t.Helper()
	hc := dashboardClient(t, base, email, password)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events = %s", resp.Status)
	}
	ch := make(chan struct{}, 16)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "event: presence" {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}
