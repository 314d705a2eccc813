package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

type jobView struct {
	Job struct {
		ID            string        `json:"id"`
		ScriptID      string        `json:"script_id"`
		ScriptVersion int           `json:"script_version"`
		SHA256        string        `json:"sha256"`
		Args          []string      `json:"args"`
		Progress      jobs.Progress `json:"progress"`
	} `json:"job"`
	Runs struct {
		Items []jobs.RunView `json:"items"`
		Total int            `json:"total"`
	} `json:"runs"`
}

func getJob(t *testing.T, s *servertest.Server, id string) jobView {
	t.Helper()
	return servertest.Decode[jobView](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/jobs/"+id, "").Want(t, http.StatusOK))
}

func runOf(v jobView, agentID string) jobs.RunView {
	for _, r := range v.Runs.Items {
		if r.AgentID == agentID {
			return r
		}
	}
	return jobs.RunView{}
}

// scriptAgent answers a script command as an agent would: started, the
// output in pieces, then the result.
func scriptAgent(t *testing.T, a *servertest.Agent, cmd protocol.Command, stdout string, exit int) {
	t.Helper()
	now := time.Now().UTC()
	a.Send(t, protocol.TypeScriptStarted, "", protocol.ScriptStarted{CommandID: cmd.CommandID, StartedAt: now})
	for i := 0; i < len(stdout); i += 4 {
		a.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: cmd.CommandID, Stream: protocol.StreamStdout,
			Offset: int64(i), Data: []byte(stdout[i:min(i+4, len(stdout))])})
	}
	status := protocol.ScriptSucceeded
	if exit != 0 {
		status = protocol.ScriptFailed
	}
	out, _ := json.Marshal(protocol.ScriptResult{Status: status, ExitCode: exit, StartedAt: now, FinishedAt: now.Add(time.Second),
		Stdout: protocol.ScriptStream{Bytes: int64(len(stdout))}})
	a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out})
	a.Sync(t)
}

func TestScriptLibrary(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		s.As(t, store.RoleReadonly, "POST", "/api/v1/scripts", `{"name":"x","language":"bash","body":"true"}`).Want(t, http.StatusForbidden)
		for _, bad := range []struct{ body, field string }{
			{`{"name":"","language":"bash","body":"true"}`, "name"},
			{`{"name":"a","language":"perl","body":"x"}`, "language"},
			{`{"name":"a","language":"bash","body":""}`, "body"},
			{`{"name":"a","language":"bash","body":"x","timeout":"48h"}`, "timeout"},
			{`{"name":"a","language":"bash","body":"x","args":["a\u0000b"]}`, "args"},
			{`{"name":"a","language":"bash","body":"x","env":{"1X":"y"}}`, "env"},
			{`{"name":"a","language":"cmd","body":"x","target_os":"linux"}`, "target_os"},
		} {
			r := s.As(t, store.RoleTechnician, "POST", "/api/v1/scripts", bad.body).Want(t, http.StatusBadRequest)
			if got := servertest.Decode[map[string]string](t, r)["field"]; got != bad.field {
				t.Errorf("%s: field %q, want %q (%s)", bad.body, got, bad.field, r.Body)
			}
		}
		created := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/scripts",
			`{"name":"Disk usage","category":"Diagnostics","language":"bash","body":"df -h \"$1\"","args":["/"],"timeout":"2m"}`).
			Want(t, http.StatusCreated))
		id := created["id"].(string)
		if created["version"].(float64) != 1 || created["timeout"] != "2m0s" || created["sha256"] != protocol.ScriptSHA256(`df -h "$1"`) {
			t.Errorf("created %v", created)
		}
		s.As(t, store.RoleTechnician, "POST", "/api/v1/scripts", `{"name":"Disk usage","language":"sh","body":"x"}`).Want(t, http.StatusBadRequest)
		// Saved unchanged: no new version. Changed: version 2. An edit of
		// version 1 after that is refused.
		same := `{"name":"Disk usage","category":"Diagnostics","language":"bash","body":"df -h \"$1\"","args":["/"],"timeout":"2m","version":1}`
		if v := servertest.Decode[map[string]any](t, s.As(t, store.RoleAdmin, "PUT", "/api/v1/scripts/"+id, same).Want(t, http.StatusOK))["version"]; v.(float64) != 1 {
			t.Errorf("unchanged save made version %v", v)
		}
		changed := strings.Replace(same, "df -h", "df -hT", 1)
		if v := servertest.Decode[map[string]any](t, s.As(t, store.RoleAdmin, "PUT", "/api/v1/scripts/"+id, changed).Want(t, http.StatusOK))["version"]; v.(float64) != 2 {
			t.Errorf("changed save made version %v", v)
		}
		stale := strings.Replace(same, "df -h", "du -s", 1)
		if r := s.As(t, store.RoleAdmin, "PUT", "/api/v1/scripts/"+id, stale); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "version") {
			t.Errorf("stale edit: %d %s", r.Status, r.Body)
		}
		versions := servertest.Decode[map[string][]map[string]any](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/scripts/"+id+"/versions", "").Want(t, http.StatusOK))
		if vs := versions["versions"]; len(vs) != 2 || vs[0]["version"].(float64) != 2 || vs[1]["body"] != `df -h "$1"` {
			t.Errorf("versions %v", vs)
		}
		list := servertest.Decode[map[string]any](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/scripts?q=disk", "").Want(t, http.StatusOK))
		if list["total"].(float64) != 1 {
			t.Errorf("search: %v", list)
		}
		s.As(t, store.RoleReadonly, "DELETE", "/api/v1/scripts/"+id, "").Want(t, http.StatusForbidden)
		s.As(t, store.RoleTechnician, "DELETE", "/api/v1/scripts/"+id, "").Want(t, http.StatusNoContent)
		s.As(t, store.RoleReadonly, "GET", "/api/v1/scripts/"+id, "").Want(t, http.StatusNotFound)
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=script.", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 3 { // create, update, delete
			t.Errorf("%d script audit entries, want 3", len(audit.Items))
		}
	})
}

// TestJobs runs a library script on three agents: two online answer (one
// fails), one offline gets it when it connects; output lost on the way
// is asked for again; the job shows each run and its progress.
// inlineAgent answers a script command as an agent does for a run that
// ends at once: its result alone, the output inline.
func inlineAgent(t *testing.T, a *servertest.Agent, commandID, stdout, stderr string) {
	t.Helper()
	now := time.Now().UTC()
	out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptSucceeded, StartedAt: now, FinishedAt: now.Add(20 * time.Millisecond), Inline: true,
		Stdout: protocol.ScriptStream{Bytes: int64(len(stdout)), Data: []byte(stdout)}, Stderr: protocol.ScriptStream{Bytes: int64(len(stderr)), Data: []byte(stderr)}})
	a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: commandID, Status: protocol.ResultOK, Output: out})
	a.Sync(t)
}

func TestJobs(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		agents := s.Agents(t, site.ID, "job", 2, servertest.AgentOptions{})
		offID, offSecret := s.EnrollIn(t, site.ID, "job-offline")
		sc := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/scripts",
			`{"name":"Echo","language":"bash","body":"echo \"$@\"","args":["default"],"timeout":"1m"}`).Want(t, http.StatusCreated))

		s.As(t, store.RoleReadonly, "POST", "/api/v1/jobs", `{"script_id":"x","site_id":"`+site.ID+`"}`).Want(t, http.StatusForbidden)
		s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs", `{"script_id":"nope","site_id":"`+site.ID+`"}`).Want(t, http.StatusBadRequest)
		s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs", `{"language":"bash","body":"x","site_id":"`+site.ID+`","expires_in":"1s"}`).Want(t, http.StatusBadRequest)
		s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs", `{"language":"cmd","body":"dir","site_id":"`+site.ID+`"}`).Want(t, http.StatusBadRequest)

		args := []string{`a "quoted" arg; rm -rf /`, "ünï"}
		argv, _ := json.Marshal(args)
		res := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs",
			`{"script_id":"`+sc["id"].(string)+`","site_id":"`+site.ID+`","args":`+string(argv)+`,"timeout":"30s"}`).Want(t, http.StatusCreated))
		jobID := res["id"].(string)
		if res["agents"].(float64) != 3 {
			t.Fatalf("job for %v agents, want 3", res["agents"])
		}
		cmds := map[string]protocol.Command{}
		for _, a := range agents {
			cmd := a.Command(t)
			run, err := protocol.DecodeScriptRun(cmd.Args)
			if err != nil || cmd.Name != protocol.CommandScript {
				t.Fatalf("agent got %s: %v", cmd.Name, err)
			}
			if fmt.Sprint(run.Args) != fmt.Sprint(args) || run.Body != `echo "$@"` || time.Duration(run.Timeout) != 30*time.Second ||
				run.StartBy.Before(time.Now().Add(23*time.Hour)) {
				t.Errorf("run %+v", run)
			}
			cmds[a.ID] = cmd
		}
		v := getJob(t, s, jobID)
		if v.Job.ScriptVersion != 1 || v.Job.SHA256 != protocol.ScriptSHA256(`echo "$@"`) || v.Runs.Total != 3 || v.Job.Progress.ByStatus[jobs.RunQueued] != 3 {
			t.Errorf("job %+v", v.Job)
		}

		scriptAgent(t, agents[0], cmds[agents[0].ID], "hello world\n", 0)
		// The second sends its start and only part of its output before
		// its result: the rest is asked for again.
		a1, c1 := agents[1], cmds[agents[1].ID]
		now := time.Now().UTC()
		a1.Send(t, protocol.TypeScriptStarted, "", protocol.ScriptStarted{CommandID: c1.CommandID, StartedAt: now})
		a1.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: c1.CommandID, Stream: protocol.StreamStdout, Data: []byte("par")})
		a1.Sync(t)
		if r := runOf(getJob(t, s, jobID), a1.ID); r.Status != jobs.RunRunning || r.Stdout != "par" {
			t.Errorf("running run %+v", r)
		}
		out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptFailed, ExitCode: 3, StartedAt: now, FinishedAt: now.Add(time.Second),
			Stdout: protocol.ScriptStream{Bytes: 7}, Stderr: protocol.ScriptStream{Bytes: 0}})
		a1.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: c1.CommandID, Status: protocol.ResultOK, Output: out})
		servertest.Eventually(t, "both results stored", func() bool {
			v := getJob(t, s, jobID)
			return runOf(v, agents[0].ID).Status == jobs.RunSucceeded && runOf(v, a1.ID).Status == jobs.RunFailed
		})
		// The offline agent's run still waits: the job is not finished.
		if err := s.RunJob(t.Context(), "job-finish"); err != nil {
			t.Fatal(err)
		}
		if b := string(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=job.finished", "").Want(t, http.StatusOK).Body); strings.Contains(b, jobID) {
			t.Fatalf("job.finished written while a run waits: %s", b)
		}
		if err := s.RunJob(t.Context(), "script-output"); err != nil {
			t.Fatal(err)
		}
		ask := a1.Command(t)
		req, err := protocol.DecodeScriptOutputRequest(ask.Args)
		if err != nil || ask.Name != protocol.CommandScriptOutput || req.CommandID != c1.CommandID || req.Offset != 3 || req.Stream != protocol.StreamStdout {
			t.Fatalf("asked %s %+v (%v), want the stdout of %s from byte 3", ask.Name, req, err, c1.CommandID)
		}
		a1.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: c1.CommandID, Stream: protocol.StreamStdout, Offset: 3, Data: []byte("tial")})
		a1.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: ask.CommandID, Status: protocol.ResultOK})
		a1.Sync(t)
		if err := s.RunJob(t.Context(), "script-output"); err != nil {
			t.Fatal(err)
		}
		v = getJob(t, s, jobID)
		if r := runOf(v, a1.ID); r.Stdout != "partial" || !r.OutputComplete || r.ExitCode == nil || *r.ExitCode != 3 {
			t.Errorf("failed run %+v", r)
		}
		if r := runOf(v, agents[0].ID); r.Stdout != "hello world\n" || !r.OutputComplete || r.DurationMS != 1000 {
			t.Errorf("succeeded run %+v", r)
		}
		// Another agent cannot write into a run that is not its own.
		agents[0].Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: c1.CommandID, Stream: protocol.StreamStderr, Data: []byte("forged")})
		agents[0].Sync(t)
		inlineAgent(t, agents[0], c1.CommandID, "", "forged inline")
		if r := runOf(getJob(t, s, jobID), a1.ID); r.Stderr != "" {
			t.Errorf("another agent wrote %q into the run", r.Stderr)
		}
		raw := s.As(t, store.RoleReadonly, "GET", "/api/v1/jobs/"+jobID+"/runs/"+a1.ID+"/output?stream=stdout&from=2", "").Want(t, http.StatusOK)
		if string(raw.Body) != "rtial" {
			t.Errorf("raw output %q", raw.Body)
		}

		// The offline agent gets its run when it connects.
		off := s.Connect(t, offID, offSecret, servertest.AgentOptions{})
		cmd := off.Command(t)
		if cmd.Name != protocol.CommandScript {
			t.Fatalf("offline agent got %s", cmd.Name)
		}
		// It ends at once: one message, the output inline.
		inlineAgent(t, off, cmd.CommandID, "late\n", "warn\xff\n")
		servertest.Eventually(t, "every run finished", func() bool {
			p := getJob(t, s, jobID).Job.Progress
			return p.Finished == 3 && p.Failed == 1 && p.ByStatus[jobs.RunSucceeded] == 2
		})
		if r := runOf(getJob(t, s, jobID), off.ID); r.Stdout != "late\n" || r.Stderr != "warn\ufffd\n" || r.StartedAt.IsZero() || r.DurationMS != 20 {
			t.Errorf("inline run %+v, want its output stored, a start and its duration", r)
		}
		if err := s.RunJob(t.Context(), "script-output"); err != nil {
			t.Fatal(err)
		}
		if r := runOf(getJob(t, s, jobID), off.ID); !r.OutputComplete {
			t.Errorf("inline run %+v, want its output complete without asking the agent", r)
		}
		runs := servertest.Decode[map[string]any](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/"+off.ID+"/runs", "").Want(t, http.StatusOK))
		if runs["total"].(float64) != 1 {
			t.Errorf("agent runs %v", runs)
		}
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=job.run", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 1 || audit.Items[0].Detail["sha256"] != protocol.ScriptSHA256(`echo "$@"`) || audit.Items[0].Detail["args"] != string(argv) {
			t.Errorf("job audit %+v", audit.Items)
		}
		// The job's outcome goes to the audit log once, when its last run
		// ended.
		for range 2 {
			if err := s.RunJob(t.Context(), "job-finish"); err != nil {
				t.Fatal(err)
			}
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=job.finished", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 1 || audit.Items[0].TargetID != jobID || audit.Items[0].Detail["succeeded"] != "2" ||
			audit.Items[0].Detail["failed"] != "1" || audit.Items[0].Detail["agents"] != "3" || audit.Items[0].ActorType != "system" {
			t.Errorf("job.finished audit %+v, want one entry with 2 succeeded and 1 failed", audit.Items)
		}
	})
}

// TestJobCancel: cancelling a job cancels the runs not delivered; with
// kill, the running ones are killed.
func TestJobCancel(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		online := s.Agents(t, site.ID, "cancel", 1, servertest.AgentOptions{})[0]
		offID, offSecret := s.EnrollIn(t, site.ID, "cancel-offline")
		res := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs",
			`{"language":"sh","body":"sleep 600","site_id":"`+site.ID+`"}`).Want(t, http.StatusCreated))
		jobID := res["id"].(string)
		cmd := online.Command(t)
		online.Send(t, protocol.TypeScriptStarted, "", protocol.ScriptStarted{CommandID: cmd.CommandID, StartedAt: time.Now().UTC()})
		online.Sync(t)
		servertest.Eventually(t, "the run recorded as delivered", func() bool {
			return !runOf(getJob(t, s, jobID), online.ID).DeliveredAt.IsZero()
		})
		got := servertest.Decode[map[string]int](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs/"+jobID+"/cancel", `{"kill":true}`).Want(t, http.StatusOK))
		if got["cancelled"] != 1 || got["killed"] != 1 {
			t.Errorf("cancel answered %v", got)
		}
		kill := online.Command(t)
		k, err := protocol.DecodeScriptKill(kill.Args)
		if err != nil || kill.Name != protocol.CommandScriptKill || k.CommandID != cmd.CommandID {
			t.Fatalf("got %s %+v (%v)", kill.Name, k, err)
		}
		// The offline agent never gets the cancelled run.
		off := s.Connect(t, offID, offSecret, servertest.AgentOptions{})
		off.Sync(t)
		v := getJob(t, s, jobID)
		if r := runOf(v, offID); r.Status != jobs.RunCancelled {
			t.Errorf("offline run %+v", r)
		}
		if r := runOf(v, online.ID); r.Status != jobs.RunRunning {
			t.Errorf("online run before the kill's result %+v", r)
		}
		// The agent kills it and answers the run: recorded as killed.
		now := time.Now().UTC()
		out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptKilled, ExitCode: -1, StartedAt: now, FinishedAt: now, Error: "killed on request"})
		online.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out})
		servertest.Eventually(t, "the run recorded killed", func() bool {
			p := getJob(t, s, jobID).Job.Progress
			return p.ByStatus[jobs.RunKilled] == 1 && p.ByStatus[jobs.RunCancelled] == 1 && p.Finished == 2
		})
		s.As(t, store.RoleReadonly, "POST", "/api/v1/jobs/"+jobID+"/cancel", "").Want(t, http.StatusForbidden)
		s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs/nope/cancel", "").Want(t, http.StatusNotFound)
	})
}

// TestJobEvents streams a run live: its output as it arrives, its status,
// and the end once its output is complete.
func TestJobEvents(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		a := s.Agents(t, site.ID, "live", 1, servertest.AgentOptions{})[0]
		res := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs",
			`{"language":"sh","body":"echo hi","site_id":"`+site.ID+`"}`).Want(t, http.StatusCreated))
		jobID := res["id"].(string)
		cmd := a.Command(t)

		req, _ := http.NewRequestWithContext(t.Context(), "GET", s.URL+"/api/v1/jobs/"+jobID+"/events?agent_id="+a.ID, nil)
		req.Header.Set("Authorization", "Bearer "+s.User(t, store.RoleReadonly).Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		events := make(chan [2]string, 100)
		go func() {
			defer close(events)
			sc := bufio.NewScanner(resp.Body)
			var name string
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "event: "):
					name = strings.TrimPrefix(line, "event: ")
				case strings.HasPrefix(line, "data: "):
					events <- [2]string{name, strings.TrimPrefix(line, "data: ")}
				}
			}
		}()
		// next returns the data of the next event named name, skipping others.
		next := func(name string) string {
			t.Helper()
			timeout := time.After(servertest.Wait)
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						t.Fatalf("stream ended waiting for %s", name)
					}
					if ev[0] == name {
						return ev[1]
					}
				case <-timeout:
					t.Fatalf("no %s event within %v", name, servertest.Wait)
				}
			}
		}
		if p := next("progress"); !strings.Contains(p, `"total":1`) {
			t.Errorf("progress %s", p)
		}
		now := time.Now().UTC()
		a.Send(t, protocol.TypeScriptStarted, "", protocol.ScriptStarted{CommandID: cmd.CommandID, StartedAt: now})
		a.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: cmd.CommandID, Stream: protocol.StreamStdout, Data: []byte("hi\xff\n")})
		var o struct {
			Stream string
			Pos    int64
			Text   string
		}
		if err := json.Unmarshal([]byte(next("output")), &o); err != nil || o.Text != "hi\ufffd\n" || o.Pos != 0 || o.Stream != "stdout" {
			t.Errorf("output event %+v (%v)", o, err)
		}
		t.Logf("output after %v", time.Since(now))
		out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptSucceeded, StartedAt: now, FinishedAt: now, Stdout: protocol.ScriptStream{Bytes: 4}})
		a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out})
		for {
			if r := next("run"); strings.Contains(r, `"status":"succeeded"`) {
				break
			}
		}
		if err := s.RunJob(t.Context(), "script-output"); err != nil {
			t.Fatal(err)
		}
		next("end")
	})
}

// TestAlertRemediation: a threshold rule names a library script; when its
// alert opens, the script runs on the agent and the alert links the job.
func TestAlertRemediation(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		a := s.Agents(t, site.ID, "hot", 1, servertest.AgentOptions{})[0]
		sc := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/scripts",
			`{"name":"Kill the hog","language":"sh","body":"pkill -f hog"}`).Want(t, http.StatusCreated))
		scriptID := sc["id"].(string)
		s.As(t, store.RoleAdmin, "POST", "/api/v1/policies", `{"name":"bad","document":{"thresholds":{"cpu":{"remediation":"not an id!"}}}}`).
			Want(t, http.StatusBadRequest)
		pol := servertest.Decode[map[string]any](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"Remediate","document":{"thresholds":{"cpu":{"trigger":50,"clear":40,"for":"0s","remediation":"`+scriptID+`"}}}}`).
			Want(t, http.StatusCreated))
		s.As(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", `{"level":"site","target_id":"`+site.ID+`","policy_id":"`+pol["id"].(string)+`"}`).
			Want(t, http.StatusOK)
		a.Send(t, protocol.TypeMetrics, "m1", protocol.MetricsBatch{Samples: []protocol.Sample{
			{Time: time.Now().UTC(), Values: map[string]float64{"cpu.percent": 99}}}})
		var cmd protocol.Command
		for {
			env := a.Next(t)
			if env.Type == protocol.TypeCommand {
				c, err := protocol.DecodeCommand(env.Data)
				if err != nil {
					t.Fatal(err)
				}
				cmd = c
				break
			}
		}
		run, err := protocol.DecodeScriptRun(cmd.Args)
		if err != nil || cmd.Name != protocol.CommandScript || run.Body != "pkill -f hog" || run.StartBy.After(time.Now().Add(time.Hour)) {
			t.Fatalf("remediation command %s %+v (%v)", cmd.Name, run, err)
		}
		var alerts struct {
			Items []store.Alert `json:"items"`
		}
		servertest.Eventually(t, "the alert links its remediation job", func() bool {
			json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/alerts", "").Want(t, http.StatusOK).Body, &alerts)
			return len(alerts.Items) == 1 && alerts.Items[0].RemediationJobID != ""
		})
		v := getJob(t, s, alerts.Items[0].RemediationJobID)
		if v.Job.ScriptID != scriptID || v.Runs.Total != 1 || v.Runs.Items[0].AgentID != a.ID {
			t.Errorf("remediation job %+v", v)
		}
		// The alerts page shows the run's outcome beside the alert.
		now := time.Now().UTC()
		out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptSucceeded, StartedAt: now, FinishedAt: now, Inline: true,
			Stdout: protocol.ScriptStream{Bytes: 9, Data: []byte("killed 1\n")}})
		a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out})
		servertest.Eventually(t, "the alerts page shows the remediation's result", func() bool {
			page := string(s.As(t, store.RoleReadonly, "GET", "/alerts", "").Want(t, http.StatusOK).Body)
			return strings.Contains(page, `Remediation: <a href="/jobs/`+v.Job.ID+`/runs/`+a.ID+`"><span class="badge run-succeeded">`)
		})
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=job.run", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 1 || audit.Items[0].ActorType != "system" || !strings.Contains(audit.Items[0].ActorName, alerts.Items[0].ID) {
			t.Errorf("remediation audit %+v", audit.Items)
		}
	})
}

// TestJobConfirm: a job for more agents than the threshold runs only with
// its count confirmed.
func TestJobConfirm(t *testing.T) {
	opts := harnessOptions
	opts.ConfirmAbove = 2
	servertest.Each(t, opts, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		for i := range 3 {
			s.EnrollIn(t, site.ID, fmt.Sprint("confirm-", i))
		}
		body := `{"language":"sh","body":"true","site_id":"` + site.ID + `"`
		res := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs", body+`}`).Want(t, http.StatusConflict))
		if res["field"] != "confirm" || res["agents"].(float64) != 3 || !strings.Contains(res["error"].(string), "confirm set to 3") {
			t.Errorf("unconfirmed job answered %v", res)
		}
		s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs", body+`,"confirm":2}`).Want(t, http.StatusConflict)
		if n := len(servertest.Decode[map[string]any](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/jobs", "").Want(t, http.StatusOK))["items"].([]any)); n != 0 {
			t.Fatalf("%d jobs after refusals, want none", n)
		}
		created := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs", body+`,"confirm":3}`).Want(t, http.StatusCreated))
		if created["agents"].(float64) != 3 {
			t.Errorf("confirmed job %v", created)
		}
	})
}

// TestCommandsHideScriptEnv: the commands API shows the names of a
// script run's environment variables, never their values.
func TestCommandsHideScriptEnv(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		a := s.Agents(t, site.ID, "env", 1, servertest.AgentOptions{})[0]
		s.As(t, store.RoleTechnician, "POST", "/api/v1/jobs",
			`{"language":"sh","body":"echo $TOKEN","agent_ids":["`+a.ID+`"],"env":{"TOKEN":"s3cret-value"}}`).Want(t, http.StatusCreated)
		cmd := a.Command(t)
		if run, err := protocol.DecodeScriptRun(cmd.Args); err != nil || run.Env["TOKEN"] != "s3cret-value" {
			t.Fatalf("the agent got %+v (%v), want the value", run.Env, err)
		}
		for _, path := range []string{"/api/v1/agents/" + a.ID + "/commands", "/api/v1/commands/" + cmd.CommandID} {
			body := string(s.As(t, store.RoleReadonly, "GET", path, "").Want(t, http.StatusOK).Body)
			if strings.Contains(body, "s3cret-value") || !strings.Contains(body, "TOKEN") || !strings.Contains(body, "[hidden]") {
				t.Errorf("GET %s shows %s, want the name with its value hidden", path, body)
			}
		}
	})
}
