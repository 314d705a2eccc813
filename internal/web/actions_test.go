package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// connectActions connects the agent as a live fake agent that answers the
// quick actions (servertest.FakeActions), and waits until it is online.
func (e *testEnv) connectActions(a store.Agent, facts protocol.Facts, fake *servertest.FakeActions) *servertest.Agent {
	e.t.Helper()
	ag := e.srv.Connect(e.t, a.ID, e.secrets[a.ID], servertest.AgentOptions{Facts: facts, Answer: fake.Answer})
	e.srv.WaitPresence(e.t, a.ID, true)
	return ag
}

// postAction posts an action form to the agent's actions tab and returns
// the page of the command it created.
func (b *browser) postAction(agentID string, form url.Values) string {
	b.t.Helper()
	res := b.post("/agents/"+agentID+"/actions", form)
	wantStatus(b.t, "POST action "+form.Get("action"), res, http.StatusSeeOther)
	to := location(res)
	if !strings.HasPrefix(to, "/agents/"+agentID+"/actions/") {
		b.t.Fatalf("action %s redirected to %q, want the command's page", form.Get("action"), to)
	}
	return to
}

// answered polls a command's page until it no longer waits for the agent.
func (b *browser) answered(path string) string {
	b.t.Helper()
	return servertest.Poll(b.t, "the answer on "+path, func() string { return b.get(path).body },
		func(body string) bool {
			return !strings.Contains(body, `id="action-status">Waiting`) && !strings.Contains(body, "Agent offline")
		})
}

// auditSummaries lists the summaries of the command.create audit entries,
// newest first.
func auditSummaries(t *testing.T, e *testEnv) []string {
	t.Helper()
	entries, _, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "command.create"}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Detail["summary"])
	}
	return out
}

func TestAgentActions(t *testing.T) {
	eachEnv(t, testAgentActions)
}

func testAgentActions(t *testing.T, e *testEnv) {
	f := e.fixture("Acme", "HQ")
	facts := linuxFacts("acme-web-01")
	a := e.enroll(f, facts)
	fake := servertest.NewFakeActions()
	fake.Truncated = true
	ag := e.connectActions(a, facts, fake)
	tech, ro := e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	tab := "/agents/" + a.ID + "/actions"

	// The read-only role sees the tab without a button, and is refused
	// whatever it posts and the answers' pages.
	res := ro.get(tab)
	wantStatus(t, "readonly actions tab", res, http.StatusOK)
	mustContain(t, "readonly actions tab", res.body, "Your role does not allow quick actions.", "No reboot or shutdown is pending.")
	mustNotContain(t, "readonly actions tab", res.body, `id="action-processes"`, `id="power-form"`, `name="action"`)
	for _, form := range []url.Values{
		{"action": {"processes"}}, {"action": {"process_end"}, "pid": {"4242"}, "process": {"sleep"}},
		{"action": {"service_control"}, "service": {"nginx.service"}, "op": {"stop"}}, {"action": {"power"}, "power": {"reboot"}},
	} {
		res := ro.post(tab, form)
		wantStatus(t, "readonly "+form.Get("action"), res, http.StatusForbidden)
		mustContain(t, "readonly "+form.Get("action"), res.body, "Your role does not allow this.")
	}
	if got := auditSummaries(t, e); len(got) != 0 {
		t.Fatalf("readonly posts created commands: %v", got)
	}
	res = tech.get(tab)
	mustContain(t, "technician actions tab", res.body, `id="action-processes"`, `id="action-services"`, `id="action-event-log"`, `id="power-form"`,
		`<option value="warning" selected>warning and above</option>`, "No command was sent to this agent yet.", `aria-current="page">Actions</a>`)

	// Processes: listed by CPU by default, sortable, truncated as the
	// agent said.
	list := tech.postAction(a.ID, url.Values{"action": {"processes"}})
	wantStatus(t, "readonly process list", ro.get(list), http.StatusForbidden)
	body := tech.answered(list)
	mustContain(t, "process list", body, `id="processes"`, `id="processes-truncated"`, "sleep 3600", "/opt/app/worker --queue=default",
		`data-confirm="End sleep (PID 4242) on acme-web-01?"`, `<td class="num">87.5</td>`, `<th scope="col" class="num" aria-sort="descending"><a href="`+list+`?sort=cpu">CPU %</a>`)
	names := func(body string) []string { return regexpAll(`<td class="num mono">\d+</td><td>([^<]*)</td>`, body) }
	for sort, want := range map[string]string{"cpu": "worker,systemd,sshd,sleep", "memory": "worker,systemd,sshd,sleep", "pid": "systemd,sshd,worker,sleep", "name": "sleep,sshd,systemd,worker", "bogus": "worker,systemd,sshd,sleep"} {
		if got := strings.Join(names(tech.get(list+"?sort="+sort).body), ","); got != want {
			t.Errorf("processes sorted by %s: %s, want %s", sort, got, want)
		}
	}
	// htmx polls the result alone.
	part := tech.get(list+"?part=result", "HX-Request", "true").body
	mustContain(t, "result fragment", part, `id="action-result"`, `id="processes"`)
	mustNotContain(t, "result fragment", part, "<!doctype html>", `hx-trigger="every`)

	end := tech.postAction(a.ID, url.Values{"action": {"process_end"}, "pid": {"4242"}, "process": {"sleep"}})
	mustContain(t, "process ended", tech.answered(end), "Ended 1 process: sleep (PID 4242).", "List processes again")
	if got := strings.Join(names(tech.answered(tech.postAction(a.ID, url.Values{"action": {"processes"}}))), ","); got != "worker,systemd,sshd" {
		t.Errorf("processes after ending sleep: %s", got)
	}

	// Services, started and stopped.
	body = tech.answered(tech.postAction(a.ID, url.Values{"action": {"services"}}))
	mustContain(t, "service list", body, `id="services"`, "2 services (systemd)", "nginx.service", `<span class="badge svc-running">running</span>`,
		`data-confirm="Stop nginx.service on acme-web-01?"`, `data-confirm="Restart nginx.service on acme-web-01?"`)
	body = tech.answered(tech.postAction(a.ID, url.Values{"action": {"service_control"}, "service": {"nginx.service"}, "op": {"stop"}}))
	mustContain(t, "service stopped", body, `nginx.service is now <span class="badge svc-stopped">stopped</span>.`)

	// The event log, from the level chosen, in the reader's time zone.
	body = tech.answered(tech.postAction(a.ID, url.Values{"action": {"event_log"}, "level": {"warning"}, "limit": {"10"}}))
	mustContain(t, "event log", body, `id="event-log"`, "2 entries from the systemd journal", "Address already in use", "Core temperature",
		`<time datetime="2026-12-04T21:00:00Z" data-local>`)
	mustNotContain(t, "event log", body, "Started Daily apt upgrade.")

	// Refused forms come back with the reason.
	for _, r := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"action": {"format_disk"}}, "Action is not a quick action"},
		{url.Values{"action": {"process_end"}, "pid": {"abc"}, "process": {"sleep"}}, "Pid must be a process ID"},
		{url.Values{"action": {"process_end"}, "pid": {"12"}}, "name is required"},
		{url.Values{"action": {"event_log"}, "level": {"loud"}}, "level must be one of"},
		{url.Values{"action": {"power"}, "power": {"reboot"}, "when": {"delay"}, "minutes": {"0"}}, "Minutes must be a number of minutes between 1 and 10080"},
		{url.Values{"action": {"power"}, "power": {"reboot"}, "when": {"at"}, "at": {"2020-01-01T10:00"}}, "At must be in the future"},
		{url.Values{"action": {"power"}, "power": {"hibernate"}}, "action must be reboot, shutdown or cancel"},
	} {
		res := tech.post(tab, r.form)
		wantStatus(t, "refused "+r.form.Encode(), res, http.StatusBadRequest)
		mustContain(t, "refused "+r.form.Encode(), res.body, `id="action-error"`, r.want)
	}

	// A refused form keeps what was typed.
	res = tech.post(tab, url.Values{"action": {"power"}, "power": {"shutdown"}, "when": {"delay"}, "minutes": {"0"}, "message": {"Back soon"}})
	mustContain(t, "refused power form", res.body, `<option value="shutdown" selected>`, `id="agent-when-delay" checked`,
		`id="agent-minutes" min="1" max="10080" value="0"`, `value="Back soon"`)

	// Power: a reboot in 30 minutes is pending on the agent, in its
	// header, its tab and the agents list, until cancelled.
	body = tech.answered(tech.postAction(a.ID, url.Values{"action": {"power"}, "power": {"reboot"}, "when": {"delay"}, "minutes": {"30"}, "message": {"Patches tonight"}}))
	mustContain(t, "reboot answered", body, "Pending on the agent: reboot at", "(Patches tonight)")
	pending := "by technician@example.com: Patches tonight"
	res = ro.get("/agents/" + a.ID)
	mustContain(t, "agent header", res.body, `id="power-pending"`, pending, ">reboot pending</span>")
	mustContain(t, "agents list", ro.get("/agents").body, `class="badge warn power-pending"`, ">reboot pending</span></td>")
	body = tech.get(tab).body
	mustContain(t, "tab with a pending reboot", body, `id="power-state"`, `id="power-cancel"`, pending,
		`<span class="badge warn">reboot pending</span> at <time datetime="`)
	mustNotContain(t, "readonly tab with a pending reboot", ro.get(tab).body, `id="power-cancel"`)
	tech.answered(tech.postAction(a.ID, url.Values{"action": {"power"}, "power": {"cancel"}}))
	mustNotContain(t, "agent header after cancel", ro.get("/agents/"+a.ID).body, `id="power-pending"`)
	mustNotContain(t, "agents list after cancel", ro.get("/agents").body, "power-pending")

	// A shutdown at a time; the agent comes back from a boot after it and
	// nothing is pending any more.
	at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Minute)
	body = tech.answered(tech.postAction(a.ID, url.Values{"action": {"power"}, "power": {"shutdown"}, "when": {"at"}, "at_utc": {at.Format(time.RFC3339)}}))
	mustContain(t, "shutdown answered", body, `Pending on the agent: shutdown at <time datetime="`+at.Format(time.RFC3339)+`" data-local>`)
	mustContain(t, "agent header", ro.get("/agents/"+a.ID+"/metrics").body, ">shutdown pending</span>")
	ag.Close()
	e.srv.WaitPresence(t, a.ID, false)
	facts.BootTime = time.Now().Add(time.Second)
	e.connectActions(a, facts, fake)
	mustNotContain(t, "agent header after a reboot", ro.get("/agents/"+a.ID).body, `id="power-pending"`)

	// Every action is audited with what it asked.
	got := strings.Join(auditSummaries(t, e), "\n")
	mustContain(t, "audit", got, "processes", "process_end pid 4242 (sleep)", "service_control stop nginx.service",
		"event_log 10 entries, warning and above", `power reboot in 30m0s: "Patches tonight"`, "power cancel", "power shutdown at "+at.Format(time.RFC3339))
	mustContain(t, "audit page", tech.get("/audit?action=command.").body, "process_end pid 4242 (sleep)")
	mustContain(t, "latest commands", tech.get(tab).body, `id="agent-recent-actions"`, "power shutdown at")
}

func TestAgentActionWaits(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	offline := e.enroll(f, linuxFacts("acme-laptop"))
	slow := e.enroll(f, linuxFacts("acme-slow"))
	ag := e.connect(slow, linuxFacts("acme-slow"))
	other := e.enroll(f, linuxFacts("acme-other"))
	tech := e.signedIn(store.RoleTechnician)

	// An offline agent: queued until the command expires, polled slowly.
	page := tech.postAction(offline.ID, url.Values{"action": {"services"}})
	body := tech.get(page).body
	mustContain(t, "offline agent", body, "Agent offline: queued until", `hx-trigger="every 5s"`)

	// An online agent that takes its time: waiting, polled every second,
	// then the answer.
	page = tech.postAction(slow.ID, url.Values{"action": {"processes"}})
	mustContain(t, "waiting", tech.get(page).body, `id="action-status">Waiting for the agent…`, `hx-trigger="every 1s"`)
	cmd := ag.Command(t)
	res, _ := servertest.NewFakeActions().Answer(cmd)
	ag.Send(t, protocol.TypeResult, "", res)
	mustContain(t, "answered", tech.answered(page), `id="processes"`)

	// A failed answer says why.
	page = tech.postAction(slow.ID, url.Values{"action": {"services"}})
	cmd = ag.Command(t)
	ag.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultUnsupported, Error: "unknown command services"})
	mustContain(t, "failed", tech.answered(page), "Failed: unknown command services")

	// A command belongs to its agent's page only.
	wantStatus(t, "another agent's command", tech.get("/agents/"+other.ID+"/actions/"+strings.TrimPrefix(page, "/agents/"+slow.ID+"/actions/")), http.StatusNotFound)
	wantStatus(t, "unknown command", tech.get("/agents/"+slow.ID+"/actions/nope"), http.StatusNotFound)
}
