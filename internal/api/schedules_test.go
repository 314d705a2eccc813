package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// reportDue sends a schedule_due and reads up to its answer, with the
// command it delivered, if any, before it.
func reportDue(t *testing.T, a *servertest.Agent, id string, d protocol.ScheduleDue) (protocol.ScheduleAck, []protocol.Command) {
	t.Helper()
	a.Send(t, protocol.TypeScheduleDue, id, d)
	var cmds []protocol.Command
	for {
		env := a.Next(t)
		switch env.Type {
		case protocol.TypeCommand:
			c, err := protocol.DecodeCommand(env.Data)
			if err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, c)
		case protocol.TypeScheduleAck:
			if env.ID != id {
				t.Fatalf("schedule_ack for %q, want %q", env.ID, id)
			}
			ack, err := protocol.DecodeScheduleAck(env.Data)
			if err != nil {
				t.Fatal(err)
			}
			return ack, cmds
		case protocol.TypePolicy, protocol.TypeHeartbeat:
		default:
			t.Fatalf("agent got %s %s while waiting for a schedule_ack", env.Type, env.Data)
		}
	}
}

func TestScheduledRuns(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		site := s.NewSite(t)
		agents := s.Agents(t, site.ID, "sched", 3, servertest.AgentOptions{})
		utcAgent, kolkata, other := agents[0], agents[1], agents[2]
		sc := servertest.Decode[map[string]any](t, s.As(t, store.RoleTechnician, "POST", "/api/v1/scripts",
			`{"name":"Nightly cleanup","language":"sh","body":"echo \"$1\"","args":["default"]}`).Want(t, http.StatusCreated))
		scriptID := sc["id"].(string)
		s.As(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"bad","document":{"scripts":{"schedules":[{"name":"n","script_id":"`+scriptID+`","when":"daily 25:00"}]}}}`).
			Want(t, http.StatusBadRequest)
		pol := servertest.Decode[map[string]any](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"Nightly","document":{"scripts":{"schedules":[
				{"name":"nightly","script_id":"`+scriptID+`","when":"daily 02:30","window":"168h","args":["a b; c","ü"]},
				{"name":"off","script_id":"`+scriptID+`","when":"daily 02:30","enabled":false}]}}}`).Want(t, http.StatusCreated))
		s.As(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", `{"level":"agent","target_id":"`+utcAgent.ID+`","policy_id":"`+pol["id"].(string)+`"}`).
			Want(t, http.StatusOK)
		s.As(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", `{"level":"agent","target_id":"`+kolkata.ID+`","policy_id":"`+pol["id"].(string)+`"}`).
			Want(t, http.StatusOK)

		// Yesterday's 02:30, as an agent on UTC and one in Kolkata (+05:30) saw it.
		y := time.Now().UTC().AddDate(0, 0, -1)
		wall := time.Date(y.Year(), y.Month(), y.Day(), 2, 30, 0, 0, time.UTC)
		occ := wall.Format(protocol.OccurrenceLayout)
		due := protocol.ScheduleDue{Name: "nightly", Occurrence: occ, Due: wall}

		ack, cmds := reportDue(t, utcAgent, "d1", due)
		if ack.Error != "" || ack.JobID == "" || len(cmds) != 1 {
			t.Fatalf("first due: ack %+v, %d commands; want a job and its run", ack, len(cmds))
		}
		run, err := protocol.DecodeScriptRun(cmds[0].Args)
		if err != nil || run.Body != `echo "$1"` || strings.Join(run.Args, "|") != "a b; c|ü" || !run.StartBy.Equal(wall.Add(168*time.Hour)) {
			t.Fatalf("scheduled run %+v (%v)", run, err)
		}
		jobID := ack.JobID

		// Sent again (the answer was lost): the same job, no second run.
		if again, cmds := reportDue(t, utcAgent, "d2", due); again.JobID != jobID || len(cmds) != 0 {
			t.Errorf("due sent again: ack %+v, %d commands; want job %s and no command", again, len(cmds), jobID)
		}
		// Another time zone, the same wall time: the same job.
		ist := due
		ist.Due = wall.Add(-5*time.Hour - 30*time.Minute)
		if ack, cmds := reportDue(t, kolkata, "d1", ist); ack.JobID != jobID || len(cmds) != 1 {
			t.Errorf("Kolkata's due: ack %+v, %d commands; want job %s and a run", ack, len(cmds), jobID)
		}

		for _, tc := range []struct {
			name  string
			agent *servertest.Agent
			due   protocol.ScheduleDue
			why   string
		}{
			{"not in the agent's policy", other, due, `no enabled schedule "nightly"`},
			{"unknown schedule", utcAgent, protocol.ScheduleDue{Name: "weekly", Occurrence: occ, Due: wall}, `no enabled schedule "weekly"`},
			{"disabled", utcAgent, protocol.ScheduleDue{Name: "off", Occurrence: occ, Due: wall}, `no enabled schedule "off"`},
			{"not an occurrence", utcAgent, protocol.ScheduleDue{Name: "nightly", Occurrence: wall.Add(time.Minute).Format(protocol.OccurrenceLayout),
				Due: wall.Add(time.Minute)}, "is not an occurrence of"},
			{"due far from the wall time", utcAgent, protocol.ScheduleDue{Name: "nightly", Occurrence: occ, Due: wall.Add(-16 * time.Hour)},
				"in any time zone"},
			{"past the window", utcAgent, protocol.ScheduleDue{Name: "nightly", Occurrence: wall.AddDate(0, 0, -8).Format(protocol.OccurrenceLayout),
				Due: wall.AddDate(0, 0, -8)}, "past its window"},
			{"in the future", utcAgent, protocol.ScheduleDue{Name: "nightly", Occurrence: wall.AddDate(0, 0, 2).Format(protocol.OccurrenceLayout),
				Due: wall.AddDate(0, 0, 2)}, "in the future"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ack, cmds := reportDue(t, tc.agent, "refused", tc.due)
				if ack.JobID != "" || !strings.Contains(ack.Error, tc.why) || len(cmds) != 0 {
					t.Errorf("ack %+v, %d commands; want an error containing %q", ack, len(cmds), tc.why)
				}
			})
		}
		utcAgent.SendRaw(t, []byte(`{"type":"schedule_due","id":"bad","data":{"name":"Nightly!","occurrence":"x"}}`))
		utcAgent.ReadError(t, protocol.CodeBadMessage, "bad")

		// The run's result is stored like any run's.
		scriptAgent(t, utcAgent, cmds[0], "a b; c\n", 0)
		v := getJob(t, s, jobID)
		if v.Runs.Total != 2 || v.Job.ScriptID != scriptID || runOf(v, utcAgent.ID).Status != "succeeded" || runOf(v, kolkata.ID).AgentID == "" {
			t.Errorf("scheduled job %+v", v)
		}
		var job store.Job
		json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/jobs/"+jobID, "").Want(t, http.StatusOK).Body, &struct {
			Job *store.Job `json:"job"`
		}{&job})
		if job.CreatedBy != "schedule nightly" || job.Agents != 2 || !strings.Contains(job.Target, occ) {
			t.Errorf("job created_by %q, agents %d, target %q", job.CreatedBy, job.Agents, job.Target)
		}
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=job.run", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 1 || audit.Items[0].ActorType != "system" || audit.Items[0].Detail["occurrence"] != occ {
			t.Errorf("job.run audit %+v", audit.Items)
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=job.schedule_run", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 2 {
			t.Errorf("job.schedule_run audit: %d entries, want one per agent", len(audit.Items))
		}
	})
}
