package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func TestMachineLife(t *testing.T) {
	for _, b := range servertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("Uninstall", func(t *testing.T) { testUninstall(t, b) })
			t.Run("Watchdog", func(t *testing.T) { testWatchdog(t, b) })
			t.Run("WatchdogRateLimit", func(t *testing.T) { testWatchdogRateLimit(t, b) })
			t.Run("HelpRequest", func(t *testing.T) { testHelpRequest(t, b) })
			t.Run("HelpRequestRateLimit", func(t *testing.T) { testHelpRequestRateLimit(t, b) })
		})
	}
}

// post sends body to an agent endpoint with the Authorization header value
// and returns the status and the error message, if any.
func (s *server) post(t *testing.T, path, authz string, body []byte) (int, http.Header, string) {
	t.Helper()
	r := s.Do(t, servertest.Request{Method: "POST", Path: path, Body: string(body), Header: http.Header{"Authorization": {authz}}})
	msg := ""
	if len(r.Body) > 0 {
		msg = errorOf(t, r.Body)
	}
	return r.Status, r.Header, msg
}

func report(t *testing.T, agentState string, services ...protocol.WatchedService) []byte {
	t.Helper()
	now := time.Now().UTC()
	b, err := json.Marshal(protocol.WatchdogReport{At: now, Services: services,
		Agent: protocol.AgentHealth{State: agentState, Reason: "exit status 2", Since: now.Add(-time.Minute), Restarts: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badBodies are bodies both machine endpoints refuse with 400, and the
// words the error must hold. Unknown fields are accepted: a newer agent may
// send more.
var badBodies = []struct {
	name, body, want string
}{
	{"not JSON", "reason: gone", "invalid"},
	{"trailing data", `{"reason":"x"} {}`, "trailing data"},
	{"wrong type", `{"reason":1,"at":1}`, "invalid"},
}

func testUninstall(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{heartbeat: 10 * time.Second})
	id, secret := s.enroll(t, "leaving")
	cred := protocol.FormatCredential(id, secret)
	a, _ := s.connect(t, id, secret, facts("leaving"))
	s.WaitPresence(t, id, true)

	// Refused before anything is recorded.
	if st, _, msg := s.post(t, protocol.UninstallPath, protocol.FormatCredential(id, auth.NewSecret("")), nil); st != http.StatusUnauthorized || msg != "invalid agent credentials" {
		t.Errorf("wrong secret: %d %q, want 401 invalid agent credentials", st, msg)
	}
	for _, c := range badBodies {
		if st, _, msg := s.post(t, protocol.UninstallPath, cred, []byte(c.body)); st != http.StatusBadRequest || !strings.Contains(msg, "invalid uninstall request") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 invalid uninstall request naming %q", c.name, st, msg, c.want)
		}
	}
	long, _ := json.Marshal(protocol.Uninstall{Reason: strings.Repeat("x", protocol.MaxReasonLen+1)})
	if st, _, msg := s.post(t, protocol.UninstallPath, cred, long); st != http.StatusBadRequest || !strings.Contains(msg, "reason") {
		t.Errorf("long reason: %d %q, want 400 naming the reason", st, msg)
	}
	huge := append([]byte(`{"reason":"`), bytes.Repeat([]byte("x"), protocol.MaxMachineBodyBytes)...)
	if st, _, msg := s.post(t, protocol.UninstallPath, cred, huge); st != http.StatusRequestEntityTooLarge || msg == "" {
		t.Errorf("huge body: %d %q, want 413 with a message", st, msg)
	}
	if got := s.agentRow(t, id); got.Status != store.StatusOnline {
		t.Fatalf("status after refused uninstalls = %q, want online", got.Status)
	}

	body, _ := json.Marshal(protocol.Uninstall{Reason: "steward-agent uninstall"})
	if st, _, msg := s.post(t, protocol.UninstallPath, cred, body); st != http.StatusNoContent {
		t.Fatalf("uninstall: %d %q, want 204", st, msg)
	}
	if code := a.ReadClose(t); code != protocol.CloseUnauthorized {
		t.Errorf("close code = %d, want %d (unauthorized)", code, protocol.CloseUnauthorized)
	}
	row := s.WaitPresence(t, id, false)
	if row.Status != store.StatusUninstalled || row.UninstalledAt.IsZero() || row.UninstallReason != "steward-agent uninstall" {
		t.Errorf("agent = status %q at %v reason %q, want uninstalled with the reason", row.Status, row.UninstalledAt, row.UninstallReason)
	}

	// Its credentials work nowhere else, with a message that says why.
	_, res, err := s.dial(t, cred)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("reconnect: err %v, response %v; want 403", err, res)
	}
	inv, _ := protocol.EncodeInventory(inventoryReport(time.Now().Add(-time.Minute)))
	if st, msg := s.postInventory(t, cred, "application/json", "", inv); st != http.StatusForbidden || !strings.Contains(errorOf(t, msg), "uninstalled") {
		t.Errorf("inventory after uninstall: %d %s, want 403 saying uninstalled", st, msg)
	}
	if st, _, msg := s.post(t, protocol.WatchdogPath, cred, report(t, protocol.AgentDown)); st != http.StatusForbidden || !strings.Contains(msg, "uninstalled") {
		t.Errorf("watchdog after uninstall: %d %q, want 403 saying uninstalled", st, msg)
	}

	// Idempotent: the second call is answered the same and records nothing.
	if st, _, msg := s.post(t, protocol.UninstallPath, cred, nil); st != http.StatusNoContent {
		t.Errorf("second uninstall: %d %q, want 204", st, msg)
	}
	if got := s.agentRow(t, id); !got.UninstalledAt.Equal(row.UninstalledAt) || got.UninstallReason != row.UninstallReason {
		t.Errorf("second uninstall changed the record: %v %q", got.UninstalledAt, got.UninstallReason)
	}
	entries, _, err := s.db.ListAudit(t.Context(), store.AuditFilter{TargetID: id, Action: "agent.uninstall"}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d audit entries, want 1", len(entries))
	}
	// The API tells the dashboard's clients.
	var got map[string]any
	json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id, "").Want(t, http.StatusOK).Body, &got)
	if got["status"] != "uninstalled" || got["uninstalled_at"] == nil {
		t.Errorf("API agent: status %v uninstalled_at %v, want uninstalled with a time", got["status"], got["uninstalled_at"])
	}
}

func testWatchdog(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{})
	id, secret := s.enroll(t, "watched")
	cred := protocol.FormatCredential(id, secret)

	if st, _, msg := s.post(t, protocol.WatchdogPath, "Agent "+id+"."+typo(secret), report(t, protocol.AgentDown)); st != http.StatusUnauthorized || msg != "invalid agent credentials" {
		t.Errorf("wrong secret: %d %q, want 401", st, msg)
	}
	for _, c := range append(badBodies, struct{ name, body, want string }{"empty", "", "invalid"},
		struct{ name, body, want string }{"unknown state", strings.Replace(string(report(t, protocol.AgentDown)), `"down"`, `"napping"`, 1), "napping"}) {
		if st, _, msg := s.post(t, protocol.WatchdogPath, cred, []byte(c.body)); st != http.StatusBadRequest || !strings.Contains(msg, "invalid watchdog report") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 invalid watchdog report naming %q", c.name, st, msg, c.want)
		}
	}
	huge := append([]byte(`{"at":"`), bytes.Repeat([]byte("x"), protocol.MaxMachineBodyBytes)...)
	if st, _, _ := s.post(t, protocol.WatchdogPath, cred, huge); st != http.StatusRequestEntityTooLarge {
		t.Errorf("huge report: %d, want 413", st)
	}

	spooler := protocol.WatchedService{Name: "Spooler", State: protocol.ServiceStopped, Reason: "exit 1", Alert: true}
	if st, _, msg := s.post(t, protocol.WatchdogPath, cred, report(t, protocol.AgentDown, spooler)); st != http.StatusNoContent {
		t.Fatalf("report: %d %q, want 204", st, msg)
	}
	row := s.agentRow(t, id)
	if row.Watchdog == nil || row.Watchdog.State != protocol.AgentDown || row.Watchdog.Restarts != 4 ||
		!cmp.Equal(row.Watchdog.Services, []protocol.WatchedService{spooler}) {
		t.Errorf("stored watchdog = %+v, want the report", row.Watchdog)
	}
	openRules := func() []string {
		items, _, err := s.db.ListAlerts(t.Context(), store.AlertFilter{AgentID: id, State: "unresolved"}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, a := range items {
			out = append(out, a.Rule)
		}
		return out
	}
	if got := openRules(); !cmp.Equal(got, []string{"service:Spooler"}) {
		t.Errorf("open alerts = %v, want the service's", got)
	}
	spooler.State = protocol.ServiceRestarted
	if st, _, msg := s.post(t, protocol.WatchdogPath, cred, report(t, protocol.AgentRunning, spooler)); st != http.StatusNoContent {
		t.Fatalf("report: %d %q, want 204", st, msg)
	}
	if got := openRules(); len(got) != 0 {
		t.Errorf("open alerts after the service restarted = %v, want none", got)
	}
}

func testWatchdogRateLimit(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{})
	id, secret := s.enroll(t, "chatty")
	cred := protocol.FormatCredential(id, secret)
	// Refused reports count too: a broken watchdog in a loop is slowed.
	for i := 0; ; i++ {
		st, h, msg := s.post(t, protocol.WatchdogPath, cred, []byte("{}"))
		if st == http.StatusBadRequest {
			continue
		}
		if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(msg, "watchdog reports") {
			t.Fatalf("report %d: %d %q, want 400 then 429 with Retry-After", i+1, st, msg)
		}
		if i < 100 {
			t.Errorf("rate-limited after %d reports, want at least 100", i)
		}
		break
	}
	// Another agent is not slowed by it.
	other, otherSecret := s.enroll(t, "quiet")
	if st, _, msg := s.post(t, protocol.WatchdogPath, protocol.FormatCredential(other, otherSecret), report(t, protocol.AgentRunning)); st != http.StatusNoContent {
		t.Errorf("other agent: %d %q, want 204", st, msg)
	}
}

func testHelpRequest(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{heartbeat: 10 * time.Second})
	id, secret := s.enroll(t, "helpless")
	a, _ := s.connect(t, id, secret, facts("helpless"))
	req := protocol.HelpRequest{ID: "0190aaaa-help-1", User: "alice", Message: "My <printer> is broken", At: time.Now().UTC()}

	// Sent twice (the first acknowledgement lost): acknowledged twice with
	// each envelope's ID, recorded once.
	for _, envID := range []string{"env-1", "env-2"} {
		a.Send(t, protocol.TypeHelpRequest, envID, req)
		if env := a.Next(t); env.Type != protocol.TypeHelpRequestAck || env.ID != envID {
			t.Fatalf("answer = %s %q %s, want %s %q", env.Type, env.ID, env.Data, protocol.TypeHelpRequestAck, envID)
		}
	}
	items, _, err := s.db.ListAlerts(t.Context(), store.AlertFilter{AgentID: id}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Rule != "help:"+req.ID || items[0].State != store.AlertOpen ||
		items[0].Message != "Help requested by alice: My <printer> is broken" || items[0].Severity != "warning" {
		t.Fatalf("tickets = %+v, want one open warning with who and what", items)
	}

	// A bad request is refused with an error that refers to it, and the
	// connection goes on.
	bad := req
	bad.Message = " "
	a.Send(t, protocol.TypeHelpRequest, "env-3", bad)
	if e := a.ReadError(t, protocol.CodeBadMessage, "env-3"); !strings.Contains(e.Message, "message") {
		t.Errorf("error = %q, want it to name the message", e.Message)
	}
	a.Send(t, protocol.TypeHelpRequest, "", req)
	a.ReadError(t, protocol.CodeBadMessage, "")
	a.Sync(t)
}

// testHelpRequestRateLimit: an agent's help requests past the hub's bound
// are refused with rate_limited (no ticket), each other agent keeps its
// own allowance, and the connection goes on.
func testHelpRequestRateLimit(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{heartbeat: 10 * time.Second})
	id, secret := s.enroll(t, "flooder")
	a, _ := s.connect(t, id, secret, facts("flooder"))
	send := func(a *servertest.Agent, i int) string {
		envID := fmt.Sprintf("env-%d", i)
		a.Send(t, protocol.TypeHelpRequest, envID, protocol.HelpRequest{ID: fmt.Sprintf("help-%d", i), User: "mallory",
			Message: "help", At: time.Now().UTC()})
		return envID
	}
	for i := range hub.MaxHelpRequests {
		envID := send(a, i)
		if env := a.Next(t); env.Type != protocol.TypeHelpRequestAck || env.ID != envID {
			t.Fatalf("request %d: answer = %s %q %s, want %s", i+1, env.Type, env.ID, env.Data, protocol.TypeHelpRequestAck)
		}
	}
	envID := send(a, hub.MaxHelpRequests)
	if e := a.ReadError(t, protocol.CodeRateLimited, envID); !strings.Contains(e.Message, "try again in") {
		t.Errorf("refusal = %q, want it to say when to try again", e.Message)
	}
	items, _, err := s.db.ListAlerts(t.Context(), store.AlertFilter{AgentID: id}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != hub.MaxHelpRequests {
		t.Errorf("tickets = %d, want %d (none for the refused request)", len(items), hub.MaxHelpRequests)
	}
	a.Sync(t)

	other, otherSecret := s.enroll(t, "quiet")
	b, _ := s.connect(t, other, otherSecret, facts("quiet"))
	envID = send(b, 0)
	if env := b.Next(t); env.Type != protocol.TypeHelpRequestAck || env.ID != envID {
		t.Errorf("other agent: answer = %s %q, want %s", env.Type, env.ID, protocol.TypeHelpRequestAck)
	}
}
