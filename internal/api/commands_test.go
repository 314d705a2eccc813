package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// commandHarness is the API harness with the command service, a hub and
// the gateway behind the same router, and a site ("Ops") whose agents
// connect for real and answer pings.
type commandHarness struct {
	*harness
	token string // unlimited enrollment token for the site Ops
}

// site adds a site to Acme and returns it with an unlimited enrollment
// token, for a test that counts the agents of a site of its own.
func (h *commandHarness) site(t *testing.T, name string) (store.Site, string) {
	t.Helper()
	s, err := h.svc.CreateSite(t.Context(), access.Console(), h.acme.ID, name)
	if err != nil {
		t.Fatalf("CreateSite(%q): %v", name, err)
	}
	tok, _, err := h.svc.CreateEnrollmentToken(t.Context(), access.Console(), s.ID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken(%q): %v", name, err)
	}
	return s, tok
}

func newCommandHarness(t *testing.T, s *servertest.Server) *commandHarness {
	t.Helper()
	ch := &commandHarness{harness: newHarness(t, s)}
	_, ch.token = ch.site(t, "Ops")
	return ch
}

// enroll adds an agent to Ops and returns its credentials.
func (h *commandHarness) enroll(t *testing.T, hostname string) (id, secret string) {
	t.Helper()
	return h.enrollWith(t, h.token, hostname)
}

// enrollWith adds an agent with an enrollment token and returns its
// credentials.
func (h *commandHarness) enrollWith(t *testing.T, token, hostname string) (id, secret string) {
	t.Helper()
	secret = auth.NewSecret("")
	a, err := h.db.Enroll(t.Context(), auth.HashSecret(token), store.NewAgent{
		SecretHash: auth.HashSecret(secret), Facts: protocol.Facts{Hostname: hostname, OS: "linux"}, IP: "192.0.2.60",
	})
	if err != nil {
		t.Fatalf("Enroll(%s): %v", hostname, err)
	}
	return a.ID, secret
}

// connect connects the agent live; it answers every ping until the test
// ends.
func (h *commandHarness) connect(t *testing.T, id, secret string) *servertest.Agent {
	t.Helper()
	return h.connectWith(t, id, secret, func(protocol.Command) any {
		return protocol.PingOutput{AgentTime: time.Now().UTC()}
	})
}

// connectWith connects the agent live; it answers every command with the
// output of answer. When the test ends the agent disconnects and the
// harness waits until the server records it offline, so the next test
// cannot find it still online.
func (h *commandHarness) connectWith(t *testing.T, id, secret string, answer func(protocol.Command) any) *servertest.Agent {
	t.Helper()
	t.Cleanup(func() { h.WaitPresence(t, id, false) }) // runs after the agent's own cleanup
	return h.Connect(t, id, secret, servertest.AgentOptions{
		Facts: protocol.Facts{Hostname: "pinger", OS: "linux"},
		Answer: func(c protocol.Command) (protocol.Result, bool) {
			out, _ := json.Marshal(answer(c))
			return protocol.Result{CommandID: c.CommandID, Status: protocol.ResultOK, Output: out}, true
		},
	})
}

// poll calls get until done holds or the deadline passes.
func poll[T any](t *testing.T, what string, get func() T, done func(T) bool) T {
	t.Helper()
	return servertest.Poll(t, what, get, done)
}

func TestCommandsAPI(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newCommandHarness(t, s)
		// Refused requests first, while nothing has been stored yet.
		t.Run("Refused", func(t *testing.T) { testCommandsRefused(t, h) })
		t.Run("AgentCommand", func(t *testing.T) { testAgentCommand(t, h) })
		t.Run("Batch", func(t *testing.T) { testCommandBatch(t, h) })
		t.Run("Targets", func(t *testing.T) { testCommandTargets(t, h) })
		t.Run("Roles", func(t *testing.T) { testCommandRoles(t, h) })
		t.Run("NotFound", func(t *testing.T) { testCommandsNotFound(t, h) })
	})
}

func testCommandsRefused(t *testing.T, h *commandHarness) {
	agentPath := "/api/v1/agents/" + h.web01.ID + "/commands"
	manyIDs := make([]string, 10001)
	for i := range manyIDs {
		manyIDs[i] = store.NewID()
	}
	tooMany, _ := json.Marshal(map[string]any{"name": "ping", "target": map[string]any{"agent_ids": manyIDs}})
	bigArgs := `{"name":"ping","args":"` + strings.Repeat("x", 32<<10) + `"}`
	tests := []struct {
		name, path, body string
		role             store.Role
		status           int
		field            string
		says             string // in the error message
	}{
		{"readonly, one agent", agentPath, `{"name":"ping"}`, store.RoleReadonly, http.StatusForbidden, "", "permission"},
		{"readonly, batch", "/api/v1/commands", `{"name":"ping","target":{"all":true}}`, store.RoleReadonly, http.StatusForbidden, "", "permission"},
		{"unknown command", agentPath, `{"name":"reboot"}`, store.RoleTechnician, http.StatusBadRequest, "name", "reboot"},
		{"unknown command, batch", "/api/v1/commands", `{"name":"reboot","target":{"all":true}}`, store.RoleTechnician, http.StatusBadRequest, "name", "reboot"},
		{"no command", agentPath, `{}`, store.RoleTechnician, http.StatusBadRequest, "name", ""},
		{"timeout not a duration", agentPath, `{"name":"ping","timeout":"soon"}`, store.RoleTechnician, http.StatusBadRequest, "", "timeout"},
		{"timeout a number", agentPath, `{"name":"ping","timeout":30}`, store.RoleTechnician, http.StatusBadRequest, "", ""},
		{"timeout too short", agentPath, `{"name":"ping","timeout":"500ms"}`, store.RoleTechnician, http.StatusBadRequest, "timeout", ""},
		{"timeout too long", "/api/v1/commands", `{"name":"ping","timeout":"25h","target":{"all":true}}`, store.RoleTechnician, http.StatusBadRequest, "timeout", ""},
		{"args too big", agentPath, bigArgs, store.RoleTechnician, http.StatusBadRequest, "args", ""},
		{"unknown field", agentPath, `{"name":"ping","reboot":true}`, store.RoleTechnician, http.StatusBadRequest, "", "reboot"},
		{"no target", "/api/v1/commands", `{"name":"ping"}`, store.RoleTechnician, http.StatusBadRequest, "", "target"},
		{"empty target", "/api/v1/commands", `{"name":"ping","target":{}}`, store.RoleTechnician, http.StatusBadRequest, "", "target"},
		{"all false", "/api/v1/commands", `{"name":"ping","target":{"all":false,"client_id":""}}`, store.RoleTechnician, http.StatusBadRequest, "", "target"},
		{"no agent IDs", "/api/v1/commands", `{"name":"ping","target":{"agent_ids":[]}}`, store.RoleTechnician, http.StatusBadRequest, "", "target"},
		// A blank query filters nothing: it must not reach the whole fleet.
		{"blank query", "/api/v1/commands", `{"name":"ping","target":{"q":"  "}}`, store.RoleTechnician, http.StatusBadRequest, "", "target"},
		{"too many agent IDs", "/api/v1/commands", string(tooMany), store.RoleTechnician, http.StatusBadRequest, "", "10000"},
		{"no agent matches", "/api/v1/commands", `{"name":"ping","target":{"client_id":"` + store.NewID() + `"}}`, store.RoleTechnician, http.StatusBadRequest, "target", ""},
		{"unknown target field", "/api/v1/commands", `{"name":"ping","target":{"hostname":"web-01"}}`, store.RoleTechnician, http.StatusBadRequest, "", "hostname"},
		{"unknown agent", "/api/v1/agents/" + store.NewID() + "/commands", `{"name":"ping"}`, store.RoleTechnician, http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.as(t, tt.role, "POST", tt.path, tt.body).want(t, tt.status)
			e := res.errorBody(t)
			if e["field"] != tt.field {
				t.Errorf(`"field" = %q, want %q (body %s)`, e["field"], tt.field, res.body)
			}
			if !strings.Contains(e["error"], tt.says) {
				t.Errorf("error = %q, want it to mention %q", e["error"], tt.says)
			}
		})
	}
	// Nothing refused was stored or audited.
	if _, total, err := h.db.ListAudit(t.Context(), store.AuditFilter{Action: "command."}, store.Page{}); err != nil || total != 0 {
		t.Errorf("refused requests left %d audit entries (%v), want 0", total, err)
	}
	if _, total, err := h.db.ListAgentCommands(t.Context(), h.web01.ID, store.Page{}); err != nil || total != 0 {
		t.Errorf("refused requests stored %d commands for web-01 (%v), want 0", total, err)
	}
}

func testAgentCommand(t *testing.T, h *commandHarness) {
	id, secret := h.enroll(t, "api-ping")
	agent := h.connect(t, id, secret)

	res := h.as(t, store.RoleTechnician, "POST", "/api/v1/agents/"+id+"/commands", `{"name":"ping","timeout":"30s"}`).want(t, http.StatusCreated)
	c := decode[store.Command](t, res)
	tech := h.users[store.RoleTechnician]
	if c.AgentID != id || c.Name != "ping" || c.CreatedBy != tech.Email+" (api token)" || c.ID == "" || c.BatchID == "" {
		t.Errorf("created command = %+v, want ping for %s by %s (api token)", c, id, tech.Email)
	}
	if got := c.ExpiresAt.Sub(c.CreatedAt); got != 30*time.Second {
		t.Errorf("timeout = %v, want 30s", got)
	}

	done := poll(t, "the ping to be answered", func() store.Command {
		return decode[store.Command](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/commands/"+c.ID, "").want(t, http.StatusOK))
	}, func(c store.Command) bool { return c.State == store.CommandDone })
	var out protocol.PingOutput
	if err := json.Unmarshal(done.Output, &out); err != nil || out.AgentTime.IsZero() || done.ResultStatus != "ok" {
		t.Errorf("answered command = status %q output %s, want ok with an agent_time", done.ResultStatus, done.Output)
	}
	if n := agent.Answered.Load(); n != 1 {
		t.Errorf("agent answered %d pings, want 1", n)
	}

	list := decode[listOf[store.Command]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/commands", "").want(t, http.StatusOK))
	if list.Total != 1 || len(list.Items) != 1 || list.Items[0].ID != c.ID || list.Items[0].State != store.CommandDone {
		t.Errorf("agent's commands = %+v, want the one done ping", list)
	}
	b := decode[store.BatchStatus](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/command-batches/"+c.BatchID, "").want(t, http.StatusOK))
	if b.Agents != 1 || b.Finished != 1 || b.States[store.CommandDone] != 1 || b.Target != "agent "+id {
		t.Errorf("batch = %+v, want 1 agent, done, target %q", b, "agent "+id)
	}

	audit := decode[listOf[store.AuditEntry]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/audit?action=command.create&target_id="+c.BatchID, "").want(t, http.StatusOK))
	if audit.Total != 1 {
		t.Fatalf("command.create audit entries for the batch = %d, want 1", audit.Total)
	}
	e := audit.Items[0]
	wantDetail := map[string]string{"name": "ping", "agents": "1", "target": "agent " + id, "summary": "ping"}
	if e.ActorID != tech.ID || e.ActorType != "api_token" || e.TargetType != "command_batch" || fmt.Sprint(e.Detail) != fmt.Sprint(wantDetail) {
		t.Errorf("audit entry = %+v, want by %s (api_token) on command_batch with detail %v", e, tech.ID, wantDetail)
	}

	// Paging the agent's commands.
	h.as(t, store.RoleTechnician, "POST", "/api/v1/agents/"+id+"/commands", `{"name":"ping"}`).want(t, http.StatusCreated)
	page := decode[listOf[store.Command]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/commands?limit=1&offset=1", "").want(t, http.StatusOK))
	if page.Total != 2 || len(page.Items) != 1 || page.Items[0].ID != c.ID || page.Limit != 1 || page.Offset != 1 {
		t.Errorf("second page = %+v, want the first command of 2", page)
	}
	h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/commands?limit=0", "").want(t, http.StatusBadRequest)
}

func testCommandBatch(t *testing.T, h *commandHarness) {
	// A site of its own: no agent of another test is counted or pinged.
	site, token := h.site(t, "Batch")
	var agents []*servertest.Agent
	for i := range 3 {
		id, secret := h.enrollWith(t, token, fmt.Sprintf("batch-%d", i))
		agents = append(agents, h.connect(t, id, secret))
	}
	// Enrolled in the same site but never connected: stays queued.
	h.enrollWith(t, token, "batch-away")
	const inSite = 4

	res := h.as(t, store.RoleAdmin, "POST", "/api/v1/commands", `{"name":"ping","target":{"site_id":"`+site.ID+`"}}`).want(t, http.StatusCreated)
	b := decode[store.BatchStatus](t, res)
	admin := h.users[store.RoleAdmin]
	if b.Agents != inSite || b.Name != "ping" || b.Target != "site_id="+site.ID || b.CreatedBy != admin.Email+" (api token)" {
		t.Errorf("created batch = %+v, want ping to the %d agents of site_id=%s by %s", b, inSite, site.ID, admin.Email)
	}
	if sum := b.States[store.CommandQueued] + b.States[store.CommandSent] + b.States[store.CommandDone]; sum != inSite {
		t.Errorf("created batch states = %v, want %d commands open or done", b.States, inSite)
	}
	b = poll(t, "the connected agents to answer", func() store.BatchStatus {
		return decode[store.BatchStatus](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/command-batches/"+b.ID, "").want(t, http.StatusOK))
	}, func(b store.BatchStatus) bool { return b.Finished == len(agents) })
	if b.States[store.CommandDone] != len(agents) || b.States[store.CommandQueued] != inSite-len(agents) {
		t.Errorf("batch states = %v, want %d done and %d queued", b.States, len(agents), inSite-len(agents))
	}
	for i, a := range agents {
		if n := a.Answered.Load(); n != 1 {
			t.Errorf("agent %d answered %d pings, want 1", i, n)
		}
	}
}

func testCommandTargets(t *testing.T, h *commandHarness) {
	counts, err := h.db.CountAgents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target     string
		wantAgents int
		wantTarget string
	}{
		{`{"all":true}`, counts.Total, "all agents"},
		{`{"os":"windows"}`, 1, "os=windows"},
		{`{"client_id":"` + h.globex.ID + `"}`, 1, "client_id=" + h.globex.ID},
		{`{"site_id":"` + h.hq.ID + `","online":true}`, 1, "site_id=" + h.hq.ID + " online=true"},
		{`{"q":"WEB-","online":false}`, 1, "q=WEB- online=false"},
		{`{"agent_ids":["` + h.web01.ID + `","` + h.winpc.ID + `"]}`, 2, "agents=2"},
		{`{"client_id":"` + h.globex.ID + `","agent_ids":["` + h.web01.ID + `","` + h.winpc.ID + `"]}`, 1, "client_id=" + h.globex.ID + " agents=2"},
	}
	for _, tt := range tests {
		t.Run(tt.wantTarget, func(t *testing.T) {
			res := h.as(t, store.RoleTechnician, "POST", "/api/v1/commands", `{"name":"ping","timeout":"1m","target":`+tt.target+`}`).want(t, http.StatusCreated)
			b := decode[store.BatchStatus](t, res)
			if b.Agents != tt.wantAgents || b.Target != tt.wantTarget {
				t.Errorf("batch for %s: %d agents, target %q; want %d, %q", tt.target, b.Agents, b.Target, tt.wantAgents, tt.wantTarget)
			}
		})
	}
}

func testCommandRoles(t *testing.T, h *commandHarness) {
	for _, r := range roles {
		t.Run(string(r), func(t *testing.T) {
			want := http.StatusCreated
			if r == store.RoleReadonly {
				want = http.StatusForbidden
			}
			h.as(t, r, "POST", "/api/v1/agents/"+h.web02.ID+"/commands", `{"name":"ping"}`).want(t, want)
			h.as(t, r, "POST", "/api/v1/commands", `{"name":"ping","target":{"agent_ids":["`+h.web02.ID+`"]}}`).want(t, want)
			// Everyone may read.
			h.as(t, r, "GET", "/api/v1/agents/"+h.web02.ID+"/commands", "").want(t, http.StatusOK)
		})
	}
}

func testCommandsNotFound(t *testing.T, h *commandHarness) {
	for _, path := range []string{
		"/api/v1/commands/" + store.NewID(),
		"/api/v1/command-batches/" + store.NewID(),
		"/api/v1/agents/" + store.NewID() + "/commands",
	} {
		t.Run(route(endpoint{method: "GET", path: path}), func(t *testing.T) {
			h.as(t, store.RoleReadonly, "GET", path, "").want(t, http.StatusNotFound).errorBody(t)
		})
	}
}
