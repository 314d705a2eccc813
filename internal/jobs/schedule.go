package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Scheduled scripts: an agent decides when a schedule of its policy
// (scripts.schedules) is due, in its own time zone, and says so; the
// server checks the due against the agent's effective policy, adds the
// agent's run to the occurrence's one job (created by the first agent to
// report it) and delivers it as any run.

const (
	// scheduleSkew is how far an agent's clock may be from the server's.
	scheduleSkew = 5 * time.Minute
	// maxZoneOffset bounds how far an occurrence's wall time is from its
	// due instant: the widest UTC offsets (-12h, +14h) and a DST gap.
	maxZoneOffset = 15 * time.Hour
)

// Schedules runs the scheduled scripts agents report due.
type Schedules struct {
	jobs     *Service
	policies *effective.Policies
	log      *slog.Logger
}

// NewSchedules returns the handler of agents' schedule_due messages.
func NewSchedules(jobs *Service, policies *effective.Policies, log *slog.Logger) *Schedules {
	return &Schedules{jobs: jobs, policies: policies, log: log}
}

var _ hub.ScheduleHandler = (*Schedules)(nil)

// ScheduleDue adds the agent's run of an occurrence of a schedule, once
// however often the agent reports it, and answers with its job. A due the
// agent's policy does not explain is refused in the answer.
func (s *Schedules) ScheduleDue(ctx context.Context, c *hub.Conn, d protocol.ScheduleDue) (protocol.ScheduleAck, error) {
	ack := protocol.ScheduleAck{Name: d.Name, Occurrence: d.Occurrence}
	refuse := func(format string, args ...any) (protocol.ScheduleAck, error) {
		ack.Error = fmt.Sprintf(format, args...)
		s.log.Warn("refused a scheduled run", "agent_id", c.AgentID, "schedule", d.Name, "occurrence", d.Occurrence, "why", ack.Error)
		return ack, nil
	}
	db := s.jobs.db
	a, err := db.Agent(ctx, c.AgentID)
	if err != nil {
		return ack, err
	}
	eff, err := s.policies.For(ctx, a.ClientID, a.SiteID, a.ID)
	if err != nil {
		return ack, err
	}
	entry, ok := scheduleOf(eff, d.Name)
	if !ok {
		return refuse("no enabled schedule %q in this agent's policy", d.Name)
	}
	spec, err := entry.Spec()
	if err != nil {
		return refuse("schedule %q: when %v", d.Name, err)
	}
	window, err := entry.WindowDuration()
	if err != nil {
		return refuse("schedule %q: %v", d.Name, err)
	}
	if !spec.Occurs(d.Occurrence) {
		return refuse("%s is not an occurrence of %q", d.Occurrence, entry.When)
	}
	wall, _ := time.Parse(protocol.OccurrenceLayout, d.Occurrence)
	if off := wall.Sub(d.Due); off < -maxZoneOffset || off > maxZoneOffset {
		return refuse("due %s is not %s in any time zone", d.Due.UTC().Format(time.RFC3339), d.Occurrence)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	switch {
	case d.Due.After(now.Add(scheduleSkew)):
		return refuse("due %s is in the future", d.Due.UTC().Format(time.RFC3339))
	case now.After(d.Due.Add(window + scheduleSkew)):
		return refuse("due %s is past its window of %s", d.Due.UTC().Format(time.RFC3339), window)
	}
	sc, err := db.GetScript(ctx, entry.ScriptID)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("schedule %q names script %s, which does not exist", d.Name, entry.ScriptID)
	}
	if err != nil {
		return ack, err
	}
	if why := unfit(a, sc.Language, sc.TargetOS); why != "" {
		return refuse("this agent cannot run script %q: %s", sc.Name, why)
	}

	p := access.System("schedule " + entry.Name)
	// A run that reaches the server at the end of its window still gets
	// a moment to start.
	startBy := d.Due.Add(window).UTC().Truncate(time.Millisecond)
	if least := now.Add(MinExpiry); startBy.Before(least) {
		startBy = least
	}
	fresh := scheduledJob(sc, entry, d.Occurrence, p.ActorName(), now, startBy)
	var (
		job   store.Job
		cmd   store.Command
		added bool
	)
	err = db.WithTx(ctx, func(tx *store.Tx) error {
		var created bool
		job, created, err = tx.ScheduleJob(ctx, store.ScheduleKey{Schedule: entry.Name, ScriptID: sc.ID, Occurrence: d.Occurrence}, fresh)
		if err != nil {
			return err
		}
		if created {
			argv, _ := json.Marshal(job.Args)
			if err := tx.AddAudit(ctx, p.Audit("job.run", "job", job.ID, map[string]string{
				"job_id": job.ID, "name": job.Name, "language": job.Language, "sha256": job.SHA256, "args": string(argv),
				"script_id": job.ScriptID, "script_version": fmt.Sprint(job.ScriptVersion), "run_as": job.RunAs,
				"timeout": job.Timeout.String(), "target": job.Target, "schedule": entry.Name, "occurrence": d.Occurrence})); err != nil {
				return err
			}
		}
		// A job made by an agent before this one runs what it recorded,
		// even if the script changed since.
		run := protocol.ScriptRun{Language: job.Language, Body: job.Body, SHA256: job.SHA256, Args: job.Args, Env: map[string]string{},
			Timeout: protocol.Duration(job.Timeout), RunAs: job.RunAs, MaxOutput: job.MaxOutput, StartBy: startBy}
		for _, k := range job.EnvNames {
			if v, ok := sc.Env[k]; ok {
				run.Env[k] = v
			}
		}
		if err := run.Validate(); err != nil {
			return fmt.Errorf("scheduled run of job %s: %w", job.ID, err)
		}
		args, err := json.Marshal(run)
		if err != nil {
			return err
		}
		cmd = store.Command{ID: store.NewID(), BatchID: job.ID, AgentID: a.ID, Name: protocol.CommandScript, Args: args,
			State: store.CommandQueued, CreatedBy: p.ActorName(), CreatedAt: now, ExpiresAt: startBy.Add(job.Timeout + resultGrace)}
		if cmd, added, err = tx.AddScheduleRun(ctx, job.ID, cmd); err != nil || !added {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("job.schedule_run", "agent", a.ID, map[string]string{
			"job_id": job.ID, "schedule": entry.Name, "occurrence": d.Occurrence, "command_id": cmd.ID}))
	})
	if err != nil {
		return ack, err
	}
	if added {
		s.jobs.changed(ctx, []string{job.ID})
	}
	if cmd.State == store.CommandQueued {
		// Sent on the connection the due came on; one already written
		// there is not written again.
		s.jobs.cmds.Connected(ctx, c, []store.Command{cmd})
	}
	ack.JobID = job.ID
	return ack, nil
}

// scheduleOf returns the enabled schedule name of an effective policy.
func scheduleOf(eff policy.Effective, name string) (policy.ScheduledScript, bool) {
	v, ok := eff.Get("scripts.schedules")
	if !ok {
		return policy.ScheduledScript{}, false
	}
	list, _ := v.Value.([]policy.ScheduledScript)
	i := slices.IndexFunc(list, func(s policy.ScheduledScript) bool { return s.Name == name && s.Enabled })
	if i < 0 {
		return policy.ScheduledScript{}, false
	}
	return list[i], true
}

// scheduledJob is the job of an occurrence as its first agent makes it.
func scheduledJob(sc store.Script, entry policy.ScheduledScript, occurrence, by string, now, startBy time.Time) store.Job {
	args := sc.Args
	if len(entry.Args) > 0 {
		args = entry.Args
	}
	// MaxOutput 0: each agent caps the output by its policy's
	// scripts.max_output, as for a job started without a cap.
	return store.Job{ID: store.NewID(), ScriptID: sc.ID, ScriptVersion: sc.Version, Name: sc.Name, Language: sc.Language, Body: sc.Body,
		SHA256: protocol.ScriptSHA256(sc.Body), Args: args, EnvNames: slices.Sorted(maps.Keys(sc.Env)), Timeout: sc.Timeout, RunAs: sc.RunAs,
		StartBy: startBy, Target: "schedule " + entry.Name + " at " + occurrence, CreatedBy: by, CreatedAt: now}
}
