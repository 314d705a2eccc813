package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ScheduleKey names one occurrence of a schedule: every agent's run of it
// belongs to one job.
type ScheduleKey struct {
	Schedule   string
	ScriptID   string
	Occurrence string // the local wall time, "2006-01-02T15:04:05"
}

// ScheduleJob returns the job of an occurrence, creating it as j (with
// its command batch, and no runs yet) when it has none; created says
// which. Two agents reporting the same occurrence at once get one job.
func (t *Tx) ScheduleJob(ctx context.Context, k ScheduleKey, j Job) (job Job, created bool, err error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO schedule_jobs (schedule, script_id, occurrence, job_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, k.Schedule, k.ScriptID, k.Occurrence, j.ID)
	if err != nil {
		return Job{}, false, fmt.Errorf("claim the job of schedule %s at %s: %w", k.Schedule, k.Occurrence, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Job{}, false, fmt.Errorf("claim the job of schedule %s at %s: %w", k.Schedule, k.Occurrence, err)
	} else if n == 1 {
		_, err := t.q.ExecContext(ctx, `INSERT INTO command_batches (id, name, target, created_by, created_at, agents)
			VALUES ($1, $2, $3, $4, $5, 0)`, j.ID, j.Name+" on "+j.Target, j.Target, j.CreatedBy, ms(j.CreatedAt))
		if err != nil {
			return Job{}, false, fmt.Errorf("create the batch of schedule %s at %s: %w", k.Schedule, k.Occurrence, err)
		}
		j.Agents = 0
		if err := t.CreateJob(ctx, j, nil); err != nil {
			return Job{}, false, err
		}
		return j, true, nil
	}
	job, err = scanJob(t.q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE id = (SELECT job_id FROM schedule_jobs WHERE schedule = $1 AND script_id = $2 AND occurrence = $3)`,
		k.Schedule, k.ScriptID, k.Occurrence))
	if err != nil {
		return Job{}, false, fmt.Errorf("read the job of schedule %s at %s: %w", k.Schedule, k.Occurrence, err)
	}
	return job, false, nil
}

// AddScheduleRun adds c, a command of the job's batch, as its agent's run
// of job jobID, unless the agent has one already: then it returns that
// run's command and added false. Agents in other time zones join an
// occurrence's job hours apart, so a job recorded finished is reopened.
func (t *Tx) AddScheduleRun(ctx context.Context, jobID string, c Command) (cmd Command, added bool, err error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO schedule_runs (job_id, agent_id, command_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, jobID, c.AgentID, c.ID)
	if err != nil {
		return Command{}, false, fmt.Errorf("add the run of agent %s to job %s: %w", c.AgentID, jobID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Command{}, false, fmt.Errorf("add the run of agent %s to job %s: %w", c.AgentID, jobID, err)
	} else if n == 0 {
		cmd, err := scanCommand(t.q.QueryRowContext(ctx, `SELECT `+commandColumns+` FROM commands
			WHERE id = (SELECT command_id FROM schedule_runs WHERE job_id = $1 AND agent_id = $2)`, jobID, c.AgentID))
		if errors.Is(err, sql.ErrNoRows) {
			return Command{}, false, fmt.Errorf("the run of agent %s in job %s: %w", c.AgentID, jobID, ErrNotFound)
		}
		if err != nil {
			return Command{}, false, fmt.Errorf("read the run of agent %s in job %s: %w", c.AgentID, jobID, err)
		}
		return cmd, false, nil
	}
	for _, st := range []struct {
		what, q string
		args    []any
	}{
		{"command", `INSERT INTO commands (id, batch_id, agent_id, name, args, state, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			[]any{c.ID, jobID, c.AgentID, c.Name, string(c.Args), c.State, c.CreatedBy, ms(c.CreatedAt), ms(c.ExpiresAt)}},
		{"run", `INSERT INTO job_runs (command_id, job_id, agent_id) VALUES ($1, $2, $3)`, []any{c.ID, jobID, c.AgentID}},
		// A job recorded finished (its runs so far ended) is open again:
		// the finish sweep records it once more with this run counted.
		{"job", `UPDATE jobs SET agents = agents + 1, finished_at = NULL WHERE id = $1`, []any{jobID}},
		{"batch", `UPDATE command_batches SET agents = agents + 1 WHERE id = $1`, []any{jobID}},
	} {
		if _, err := t.q.ExecContext(ctx, st.q, st.args...); err != nil {
			return Command{}, false, fmt.Errorf("add the run of agent %s to job %s: %s: %w", c.AgentID, jobID, st.what, err)
		}
	}
	c.BatchID = jobID
	return c, true, nil
}
