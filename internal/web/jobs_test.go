package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// answerScript answers a script command as an agent would: started, the
// output, then the result with exit code exit.
func answerScript(t testing.TB, a *servertest.Agent, cmd protocol.Command, stdout string, exit int) {
	t.Helper()
	now := time.Now().UTC()
	a.Send(t, protocol.TypeScriptStarted, "", protocol.ScriptStarted{CommandID: cmd.CommandID, StartedAt: now})
	a.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: cmd.CommandID, Stream: protocol.StreamStdout, Data: []byte(stdout)})
	status := protocol.ScriptSucceeded
	if exit != 0 {
		status = protocol.ScriptFailed
	}
	out, _ := json.Marshal(protocol.ScriptResult{Status: status, ExitCode: exit, StartedAt: now, FinishedAt: now.Add(1500 * time.Millisecond),
		Stdout: protocol.ScriptStream{Bytes: int64(len(stdout))}})
	a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out})
	a.Sync(t)
}

// scriptCommand reads the next command of a fake agent as a script run.
func scriptCommand(t testing.TB, a *servertest.Agent) (protocol.Command, protocol.ScriptRun) {
	t.Helper()
	cmd := a.Command(t)
	if cmd.Name != protocol.CommandScript {
		t.Fatalf("command %s, want %s", cmd.Name, protocol.CommandScript)
	}
	run, err := protocol.DecodeScriptRun(cmd.Args)
	if err != nil {
		t.Fatalf("decode script run: %v", err)
	}
	return cmd, run
}

func TestJobPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *testEnv) {
		f := e.fixture("Acme", "HQ")
		a1 := e.enroll(f, linuxFacts("alpha"))
		a2 := e.enroll(f, linuxFacts("bravo"))
		a3 := e.enroll(f, linuxFacts("charlie")) // offline: its run waits
		ag1, ag2 := e.connect(a1, linuxFacts("alpha")), e.connect(a2, linuxFacts("bravo"))
		tech := e.signedIn(store.RoleTechnician)
		ro := e.signedIn(store.RoleReadonly)

		run := func(b *browser, form url.Values) response {
			t.Helper()
			for _, id := range []string{a1.ID, a2.ID, a3.ID} {
				form.Add("id", id)
			}
			return b.post("/jobs", form)
		}
		adhoc := url.Values{"language": {"bash"}, "body": {"echo \"$1\""}, "args": {"two words\r\n'quoted'; rm -rf /\r\nünïcode"}, "expires_in": {"1h"},
			"env": {"GREETING=hi = there\r\n\r\nEMPTY="}, "max_output": {"65536"}}

		// Who may run: readonly sees no form and is refused; CSRF is checked.
		wantStatus(t, "readonly run", run(ro, url.Values{"language": {"bash"}, "body": {"true"}}), http.StatusForbidden)
		wantStatus(t, "readonly form", ro.get("/jobs/new"), http.StatusForbidden)
		mustNotContain(t, "readonly agents list", ro.get("/agents").body, "Run script…")
		wantStatus(t, "no CSRF", tech.postRaw("/jobs", url.Values{"id": {a1.ID}, "language": {"bash"}, "body": {"true"}}), http.StatusForbidden)
		mustContain(t, "technician agents list", tech.get("/agents").body, `id="bulk-run"`, `formaction="/jobs"`)

		// Refused forms come back with the reason and the selection.
		for _, bad := range []struct {
			name string
			form url.Values
			want string
		}{
			{"no body", url.Values{"language": {"bash"}, "body": {""}}, "give script_id, or language and body"},
			{"bad timeout", url.Values{"language": {"bash"}, "body": {"true"}, "timeout": {"soon"}}, "Timeout must be a duration"},
			{"cmd on linux", url.Values{"language": {"cmd"}, "body": {"dir"}}, "no selected agent can run it"},
			{"unknown script", url.Values{"script_id": {"nope"}}, "no script nope"},
			{"args and no args", url.Values{"language": {"bash"}, "body": {"true"}, "args": {"x"}, "no_args": {"1"}}, "not both"},
			{"env without =", url.Values{"language": {"bash"}, "body": {"true"}, "env": {"A=1\nGREETING"}}, "line 2: want NAME=value"},
			{"env bad name", url.Values{"language": {"bash"}, "body": {"true"}, "env": {"1A=x"}}, "line 1: want NAME=value"},
			{"env twice", url.Values{"language": {"bash"}, "body": {"true"}, "env": {"A=1\nA=2"}}, "A is set twice"},
			{"output cap", url.Values{"language": {"bash"}, "body": {"true"}, "max_output": {"99999999999"}}, "must be a number of bytes"},
		} {
			res := run(tech, bad.form)
			wantStatus(t, bad.name, res, http.StatusBadRequest)
			mustContain(t, bad.name, res.body, `id="run-error"`, bad.want, `name="id" value="`+a3.ID+`"`)
		}
		if n := auditCount(t, e, "job.run"); n != 0 {
			t.Fatalf("%d job.run entries after refused forms, want 0", n)
		}

		res := run(tech, adhoc)
		wantStatus(t, "run", res, http.StatusSeeOther)
		jobURL := location(res)
		if !strings.HasPrefix(jobURL, "/jobs/") {
			t.Fatalf("run redirected to %q, want the job page", jobURL)
		}
		jobID := strings.TrimPrefix(jobURL, "/jobs/")
		c1, sr := scriptCommand(t, ag1)
		if want := []string{"two words", "'quoted'; rm -rf /", "ünïcode"}; strings.Join(sr.Args, "|") != strings.Join(want, "|") {
			t.Errorf("args %q, want %q", sr.Args, want)
		}
		if sr.Env["GREETING"] != "hi = there" || sr.Env["EMPTY"] != "" || len(sr.Env) != 2 || sr.MaxOutput != 65536 {
			t.Errorf("env %q and output cap %d, want the form's", sr.Env, sr.MaxOutput)
		}
		c2, _ := scriptCommand(t, ag2)

		page := tech.get(jobURL)
		wantStatus(t, "job page", page, http.StatusOK)
		mustContain(t, "job page", page.body, "Ad-hoc command", "0 of 3 done", `id="cancel-queued"`, `id="cancel-kill"`,
			`hx-get="/jobs/`+jobID+`?part=progress"`, "two words")

		answerScript(t, ag1, c1, "hello <b>bold</b> \x1b[31mred\x1b[0m\x07\n", 0)
		answerScript(t, ag2, c2, "broken\n", 3)
		servertest.Eventually(t, "both results on the job page", func() bool {
			return strings.Contains(tech.get(jobURL+"?part=progress", "HX-Request", "true").body, "2 of 3 done")
		})
		page = tech.get(jobURL)
		mustContain(t, "job page", page.body, "2 of 3 done", "1 failed", ">alpha</a>", ">bravo</a>", ">charlie</a>", "1.5s")
		failed := tech.get(jobURL + "?status=failed").body
		mustContain(t, "failed runs", failed, ">bravo</a>")
		mustNotContain(t, "failed runs", failed, ">alpha</a>", ">charlie</a>")
		queued := tech.get(jobURL + "?status=queued").body
		mustContain(t, "queued runs", queued, ">charlie</a>")
		mustNotContain(t, "queued runs", queued, ">alpha</a>", ">bravo</a>")
		wantStatus(t, "unknown status", tech.get(jobURL+"?status=odd"), http.StatusBadRequest)

		// A run's output is text: markup escaped, colours stripped,
		// control characters visible.
		runPage := tech.get(jobURL + "/runs/" + a1.ID)
		wantStatus(t, "run page", runPage, http.StatusOK)
		mustContain(t, "run page", runPage.body, "hello &lt;b&gt;bold&lt;/b&gt; red\\x07", "/api/v1/jobs/"+jobID+"/runs/"+a1.ID+"/output?stream=stdout")
		mustNotContain(t, "run page", runPage.body, "<b>bold", "\x1b", "data-run-events")
		wantStatus(t, "queued run page", tech.get(jobURL+"/runs/"+a3.ID), http.StatusOK)
		mustContain(t, "queued run page", tech.get(jobURL+"/runs/"+a3.ID).body, `data-run-events="/api/v1/jobs/`+jobID+`/events?agent_id=`+a3.ID+`"`)
		wantStatus(t, "run of another agent", tech.get(jobURL+"/runs/nope"), http.StatusNotFound)

		// Readonly reads everything and cancels nothing.
		roPage := ro.get(jobURL)
		wantStatus(t, "readonly job page", roPage, http.StatusOK)
		mustNotContain(t, "readonly job page", roPage.body, `id="cancel-queued"`)
		wantStatus(t, "readonly cancel", ro.post(jobURL+"/cancel", url.Values{"kill": {"1"}}), http.StatusForbidden)
		wantStatus(t, "readonly run page", ro.get(jobURL+"/runs/"+a1.ID), http.StatusOK)

		res = tech.post(jobURL+"/cancel", nil)
		wantStatus(t, "cancel", res, http.StatusSeeOther)
		mustContain(t, "after cancel", tech.get(location(res)).body, "Cancelled 1 queued run.", "3 of 3 done")
		// Each status lists the runs the progress counts with it.
		for status, want := range map[string]string{"succeeded": "alpha", "failed": "bravo", "cancelled": "charlie",
			"queued": "", "running": "", "timed_out": "", "killed": "", "expired": ""} {
			body := tech.get(jobURL + "?status=" + status).body
			got := strings.Join(regexpAll(`<td><a href="/agents/[^"]+">([^<]*)</a></td>`, body), ",")
			if got != want {
				t.Errorf("runs %s: %q, want %q", status, got, want)
			}
		}
		if n := auditCount(t, e, "job.cancel"); n != 1 {
			t.Errorf("%d job.cancel entries, want 1", n)
		}

		list := ro.get("/jobs")
		wantStatus(t, "jobs list", list, http.StatusOK)
		mustContain(t, "jobs list", list.body, `href="/jobs/`+jobID+`"`, "3 of 3 done", "1 failed")
		tab := ro.get("/agents/" + a1.ID + "/scripts")
		wantStatus(t, "scripts tab", tab, http.StatusOK)
		mustContain(t, "scripts tab", tab.body, `href="/jobs/`+jobID+`/runs/`+a1.ID+`"`, "Succeeded")
		mustNotContain(t, "readonly scripts tab", tab.body, `id="agent-run-script"`, `id="agent-action-run"`)
		mustContain(t, "technician agent page", tech.get("/agents/"+a1.ID).body, `id="agent-action-run" href="/jobs/new?agent=`+a1.ID+`"`)
		mustContain(t, "technician scripts tab", tech.get("/agents/"+a1.ID+"/scripts").body, `href="/jobs/new?agent=`+a1.ID+`"`)
	})
}

func TestJobFormTargets(t *testing.T) {
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	a := e.enroll(f, linuxFacts("alpha"))
	e.enroll(f, protocol.Facts{Hostname: "win", OS: "windows", Arch: "amd64", AgentVersion: "0.1.0"})
	tech := e.signedIn(store.RoleTechnician)

	form := tech.get("/jobs/new?target=site:" + f.site.ID)
	wantStatus(t, "form", form, http.StatusOK)
	mustContain(t, "form", form.body, `<option value="site:`+f.site.ID+`" selected>`, `value="client:`+f.client.ID+`"`)
	mustContain(t, "site page", tech.get("/sites/"+f.site.ID).body, `href="/jobs/new?target=site:`+f.site.ID+`"`)
	mustContain(t, "agent form", tech.get("/jobs/new?agent="+a.ID).body, `name="id" value="`+a.ID+`"`, "On alpha.")

	// A site run leaves out the agents that cannot run it, and says so.
	res := tech.post("/jobs", url.Values{"target": {"client:" + f.client.ID}, "language": {"bash"}, "body": {"true"}})
	wantStatus(t, "run on client", res, http.StatusSeeOther)
	mustContain(t, "job page", tech.get(location(res)).body, "0 of 2 done")
	res = tech.post("/jobs", url.Values{"target": {"site:" + f.site.ID}, "language": {"powershell"}, "body": {"Get-Date"}})
	wantStatus(t, "run on site", res, http.StatusSeeOther)
	mustContain(t, "job page", tech.get(location(res)).body, "0 of 2 done")
	res = tech.post("/jobs", url.Values{"target": {"site:" + f.site.ID}, "language": {"cmd"}, "body": {"dir"}})
	wantStatus(t, "cmd on site", res, http.StatusSeeOther)
	mustContain(t, "cmd job page", tech.get(location(res)).body, "0 of 1 done", `id="job-skipped"`, "1 cmd runs on Windows only")
	forged := tech.get(location(res) + "&skipped=" + url.QueryEscape("3 agents were compromised, call 555"))
	mustNotContain(t, "job page with a forged note", forged.body, "compromised")

	// A library script: preselected from its page's link, its default
	// arguments shown, run with them on the site; the Windows agent is
	// left out by the script's target OS; the job links the script.
	sc := e.mustScript(jobs.ScriptInput{Name: "Disk usage", Language: "bash", Body: "df \"$@\"", Args: []string{"-h", "--total"},
		TargetOS: "linux", Timeout: 2 * time.Minute})
	form = tech.get("/jobs/new?script_id=" + sc.ID)
	mustContain(t, "script form", form.body, `<option value="`+sc.ID+`" selected>Disk usage (bash, Linux) — default arguments: -h --total</option>`)
	res = tech.post("/jobs", url.Values{"target": {"site:" + f.site.ID}, "script_id": {sc.ID}, "language": {"bash"}, "args": {""}})
	wantStatus(t, "run the script", res, http.StatusSeeOther)
	page := tech.get(location(res)).body
	mustContain(t, "script job page", page, `<a href="/scripts/`+sc.ID+`">Disk usage</a>, version 1`, "<li>-h</li><li>--total</li>",
		"1 the script is for linux", "2m0s")
	// "Run without arguments" drops the defaults.
	res = tech.post("/jobs", url.Values{"target": {"site:" + f.site.ID}, "script_id": {sc.ID}, "no_args": {"1"}})
	wantStatus(t, "run the script without arguments", res, http.StatusSeeOther)
	page = tech.get(location(res)).body
	mustContain(t, "script job page without arguments", page, `<a href="/scripts/`+sc.ID+`">Disk usage</a>, version 1`)
	mustNotContain(t, "script job page without arguments", page, "<li>-h</li>")
}

// A run on more agents than the threshold comes back asking to confirm
// the count, and runs once confirmed.
func TestJobFormConfirm(t *testing.T) {
	opts := envOptions(t)
	opts.ConfirmAbove = 1
	e := newEnv(t, servertest.Start(t, opts))
	f := e.fixture("Acme", "HQ")
	e.enroll(f, linuxFacts("alpha"))
	e.enroll(f, linuxFacts("bravo"))
	tech := e.signedIn(store.RoleTechnician)
	form := url.Values{"target": {"site:" + f.site.ID}, "language": {"bash"}, "body": {"uptime"}, "args": {"-p"}}
	res := tech.post("/jobs", form)
	wantStatus(t, "unconfirmed run", res, http.StatusOK)
	mustContain(t, "confirm page", res.body, `id="run-confirm"`, "<strong>2 agents</strong>", `name="confirm" value="2"`,
		"Run on 2 agents", ">uptime</textarea>", ">-p</textarea>", `value="site:`+f.site.ID+`" selected`)
	if n := auditCount(t, e, "job.run"); n != 0 {
		t.Fatalf("%d job.run entries before the confirmation, want 0", n)
	}
	form.Set("confirm", "2")
	res = tech.post("/jobs", form)
	wantStatus(t, "confirmed run", res, http.StatusSeeOther)
	mustContain(t, "job page", tech.get(location(res)).body, "0 of 2 done")
}
