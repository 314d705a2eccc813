package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// CommandCancelled is the state of a command cancelled before it was
// delivered (a job cancelled by hand).
const CommandCancelled = "cancelled"

// Job is a script run on agents: a command batch with what it ran.
type Job struct {
	ID            string        `json:"id"`
	ScriptID      string        `json:"script_id,omitempty"`
	ScriptVersion int           `json:"script_version,omitempty"`
	Name          string        `json:"name"`
	Language      string        `json:"language"`
	Body          string        `json:"body"`
	SHA256        string        `json:"sha256"`
	Args          []string      `json:"args"`
	EnvNames      []string      `json:"env_names"`
	Timeout       time.Duration `json:"-"`
	RunAs         string        `json:"run_as"`
	MaxOutput     int64         `json:"max_output"` // 0: each agent's policy
	StartBy       time.Time     `json:"start_by"`
	Target        string        `json:"target"`
	Agents        int           `json:"agents"`
	CreatedBy     string        `json:"created_by"`
	CreatedAt     time.Time     `json:"created_at"`
	CancelledBy   string        `json:"cancelled_by,omitempty"`
	CancelledAt   time.Time     `json:"cancelled_at,omitzero"`
}

// JobRun is one agent's run of a job: its command's state and result, and
// what the job tables add.
type JobRun struct {
	CommandID      string
	JobID          string
	AgentID        string
	Hostname       string
	OS             string
	State          string // the command's state
	ResultStatus   string
	Output         json.RawMessage // the command result's output (a protocol.ScriptResult)
	Error          string
	SentAt         time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	ExpiresAt      time.Time
	OutputComplete bool
	OutputAskedAt  time.Time
	// StdoutStored and StderrStored count the output bytes stored.
	StdoutStored int64
	StderrStored int64
}

const jobColumns = `id, script_id, script_version, name, language, body, sha256, args, env_names, timeout_ms, run_as, max_output,
	start_by, target, agents, created_by, created_at, cancelled_by, cancelled_at`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var (
		j                         Job
		args, env                 string
		timeout, startBy, created int64
		cancelled                 sql.NullInt64
	)
	if err := row.Scan(&j.ID, &j.ScriptID, &j.ScriptVersion, &j.Name, &j.Language, &j.Body, &j.SHA256, &args, &env, &timeout,
		&j.RunAs, &j.MaxOutput, &startBy, &j.Target, &j.Agents, &j.CreatedBy, &created, &j.CancelledBy, &cancelled); err != nil {
		return Job{}, err
	}
	j.Args, j.EnvNames = []string{}, []string{}
	if err := json.Unmarshal([]byte(args), &j.Args); err != nil {
		return Job{}, fmt.Errorf("job %s: stored arguments: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(env), &j.EnvNames); err != nil {
		return Job{}, fmt.Errorf("job %s: stored environment names: %w", j.ID, err)
	}
	j.Timeout, j.StartBy, j.CreatedAt = time.Duration(timeout)*time.Millisecond, fromMS(startBy), fromMS(created)
	j.CancelledAt = fromNullMS(cancelled)
	return j, nil
}

// CreateJob stores a job and its runs, one per command of its batch; call
// it in the transaction that creates the commands.
func (t *Tx) CreateJob(ctx context.Context, j Job, cmds []Command) error {
	if j.Args == nil {
		j.Args = []string{}
	}
	if j.EnvNames == nil {
		j.EnvNames = []string{}
	}
	args, _ := json.Marshal(j.Args)
	env, _ := json.Marshal(j.EnvNames)
	_, err := t.q.ExecContext(ctx, `INSERT INTO jobs (`+jobColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, '', NULL)`,
		j.ID, j.ScriptID, j.ScriptVersion, j.Name, j.Language, j.Body, j.SHA256, string(args), string(env), j.Timeout.Milliseconds(),
		j.RunAs, j.MaxOutput, ms(j.StartBy), j.Target, j.Agents, j.CreatedBy, ms(j.CreatedAt))
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	err = t.insertRows(ctx, `INSERT INTO job_runs (command_id, job_id, agent_id) VALUES `, ``, 3, len(cmds), func(i int) []any {
		return []any{cmds[i].ID, j.ID, cmds[i].AgentID}
	})
	if err != nil {
		return fmt.Errorf("create the runs of job %s: %w", j.ID, err)
	}
	return nil
}

// GetJob returns a job.
func (db *DB) GetJob(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(db.sql.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("read job %s: %w", id, err)
	}
	return j, nil
}

// ListJobs lists jobs, newest first; scriptID, when set, keeps that
// script's.
func (db *DB) ListJobs(ctx context.Context, scriptID string, p Page) ([]Job, int, error) {
	p = p.Normalize()
	where, args := ``, []any{}
	if scriptID != "" {
		where, args = `WHERE script_id = $1`, append(args, scriptID)
	}
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count jobs: %w", err)
	}
	args = append(args, p.Limit, p.Offset)
	rows, err := db.sql.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs `+where+
		fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, total, rows.Err()
}

const jobRunColumns = `r.command_id, r.job_id, r.agent_id, a.hostname, a.os, c.state, c.result_status, c.output, c.error,
	c.sent_at, r.started_at, c.finished_at, c.expires_at, r.output_complete, r.output_asked_at,
	(SELECT COALESCE(SUM(length(o.data)), 0) FROM job_output o WHERE o.command_id = r.command_id AND o.stream = 'stdout'),
	(SELECT COALESCE(SUM(length(o.data)), 0) FROM job_output o WHERE o.command_id = r.command_id AND o.stream = 'stderr')`

const jobRunFrom = ` FROM job_runs r JOIN commands c ON c.id = r.command_id JOIN agents a ON a.id = r.agent_id `

func scanJobRun(row interface{ Scan(...any) error }) (JobRun, error) {
	var (
		r                              JobRun
		output                         string
		sent, started, finished, asked sql.NullInt64
		expires                        int64
		complete                       int
	)
	if err := row.Scan(&r.CommandID, &r.JobID, &r.AgentID, &r.Hostname, &r.OS, &r.State, &r.ResultStatus, &output, &r.Error,
		&sent, &started, &finished, &expires, &complete, &asked, &r.StdoutStored, &r.StderrStored); err != nil {
		return JobRun{}, err
	}
	if output != "" {
		r.Output = json.RawMessage(output)
	}
	r.SentAt, r.StartedAt, r.FinishedAt, r.OutputAskedAt = fromNullMS(sent), fromNullMS(started), fromNullMS(finished), fromNullMS(asked)
	r.ExpiresAt, r.OutputComplete = fromMS(expires), complete != 0
	return r, nil
}

// JobRuns lists a job's runs by hostname.
func (db *DB) JobRuns(ctx context.Context, jobID string, p Page) ([]JobRun, int, error) {
	// No filter on the command: its table is left out of the count and
	// the choice of the page.
	return db.jobRunsWhere(ctx, jobID, jobRunHosts, `r.job_id = $1`, []any{jobID}, p, true)
}

// jobRunHosts joins a job's runs to their agents' hostnames, by which
// they are listed.
const jobRunHosts = ` FROM job_runs r JOIN agents a ON a.id = r.agent_id `

// jobRunsWhere lists a page of the runs where matches, by hostname, with
// their count when asked. The page's rows are chosen first and only they are read
// whole: the stored output sizes are sums over each run's pieces, which
// a database would otherwise compute for every row it sorts or skips (the
// last page of 10,000 runs took 170 ms instead of 40).
func (db *DB) jobRunsWhere(ctx context.Context, jobID, from, where string, args []any, p Page, count bool) ([]JobRun, int, error) {
	p = p.Normalize()
	var total int
	if count {
		if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*)`+from+`WHERE `+where, args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count the runs of job %s: %w", jobID, err)
		}
	}
	n := len(args)
	args = append(args, p.Limit, p.Offset)
	rows, err := db.sql.QueryContext(ctx, `SELECT `+jobRunColumns+` FROM (SELECT r.command_id, lower(a.hostname) AS host, r.agent_id`+
		from+`WHERE `+where+fmt.Sprintf(` ORDER BY lower(a.hostname), r.agent_id LIMIT $%d OFFSET $%d) pg
		JOIN job_runs r ON r.command_id = pg.command_id JOIN commands c ON c.id = r.command_id JOIN agents a ON a.id = r.agent_id
		ORDER BY pg.host, pg.agent_id`, n+1, n+2), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list the runs of job %s: %w", jobID, err)
	}
	defer rows.Close()
	out := []JobRun{}
	for rows.Next() {
		r, err := scanJobRun(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list the runs of job %s: %w", jobID, err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// RunCount is a number of a job's runs in one state.
type RunCount struct {
	State   string // the command's
	Started bool
	// Result is the status in a done run's result output ("" otherwise).
	Result string
	N      int
}

// JobRunCounts counts a job's runs by command state, start and result
// status, in the database: the progress of a job of 10,000 runs without
// reading them.
func (db *DB) JobRunCounts(ctx context.Context, jobID string) ([]RunCount, error) {
	result := `CASE WHEN c.state = 'done' THEN ` + db.dialect.jsonText("c.output", "status") + ` ELSE '' END`
	rows, err := db.sql.QueryContext(ctx, `SELECT c.state, r.started_at IS NOT NULL, `+result+`, COUNT(*) FROM job_runs r
		JOIN commands c ON c.id = r.command_id WHERE r.job_id = $1 GROUP BY c.state, r.started_at IS NOT NULL, `+result, jobID)
	if err != nil {
		return nil, fmt.Errorf("count the runs of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []RunCount
	for rows.Next() {
		var c RunCount
		if err := rows.Scan(&c.State, &c.Started, &c.Result, &c.N); err != nil {
			return nil, fmt.Errorf("count the runs of job %s: %w", jobID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// GetJobRun returns one run by its command ID.
func (db *DB) GetJobRun(ctx context.Context, commandID string) (JobRun, error) {
	r, err := scanJobRun(db.sql.QueryRowContext(ctx, `SELECT `+jobRunColumns+jobRunFrom+`WHERE r.command_id = $1`, commandID))
	if errors.Is(err, sql.ErrNoRows) {
		return JobRun{}, fmt.Errorf("run %s: %w", commandID, ErrNotFound)
	}
	if err != nil {
		return JobRun{}, fmt.Errorf("read run %s: %w", commandID, err)
	}
	return r, nil
}

// AgentJobRuns lists an agent's runs, newest first.
func (db *DB) AgentJobRuns(ctx context.Context, agentID string, p Page) ([]JobRun, int, error) {
	p = p.Normalize()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM job_runs WHERE agent_id = $1`, agentID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count the runs of agent %s: %w", agentID, err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+jobRunColumns+jobRunFrom+`WHERE r.agent_id = $1
		ORDER BY c.created_at DESC, r.command_id DESC LIMIT $2 OFFSET $3`, agentID, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list the runs of agent %s: %w", agentID, err)
	}
	defer rows.Close()
	out := []JobRun{}
	for rows.Next() {
		r, err := scanJobRun(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list the runs of agent %s: %w", agentID, err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// RunStart says an agent's run started.
type RunStart struct {
	CommandID string
	AgentID   string
	At        time.Time
}

// MarkRunsStarted records run starts; a start of a run that is not the
// agent's, or already recorded, is ignored. It returns the job IDs of the
// runs it marked.
func (db *DB) MarkRunsStarted(ctx context.Context, starts []RunStart) ([]string, error) {
	var jobs []string
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(starts); start += n {
		chunk := starts[start:min(start+n, len(starts))]
		var (
			sb   strings.Builder
			args []any
		)
		sb.WriteString(`WITH v (id, agent_id, at) AS (VALUES `)
		for i, s := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, CAST($%d AS BIGINT))", k+1, k+2, k+3)
			args = append(args, s.CommandID, s.AgentID, ms(s.At))
		}
		sb.WriteString(`) UPDATE job_runs SET started_at = v.at FROM v WHERE job_runs.command_id = v.id
			AND job_runs.agent_id = v.agent_id AND job_runs.started_at IS NULL RETURNING job_runs.job_id`)
		rows, err := db.sql.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return jobs, fmt.Errorf("record run starts: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return jobs, fmt.Errorf("record run starts: %w", err)
			}
			jobs = append(jobs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return jobs, fmt.Errorf("record run starts: %w", err)
		}
	}
	return jobs, nil
}

// OutputPiece is a piece of a run's output as its agent sent it.
type OutputPiece struct {
	CommandID string
	AgentID   string
	Stream    string
	Pos       int64
	Data      []byte
}

// AddJobOutput stores output pieces of the agents' own runs, within their
// job's output cap; a piece stored before is kept as it was. It returns
// the job IDs whose output it stored, and how many pieces it refused
// (another agent's run, or past the cap).
func (db *DB) AddJobOutput(ctx context.Context, pieces []OutputPiece) (jobIDs []string, refused int, err error) {
	if len(pieces) == 0 {
		return nil, 0, nil
	}
	type owner struct {
		agent, job string
		cap        int64
	}
	ids := map[string]bool{}
	for _, p := range pieces {
		ids[p.CommandID] = true
	}
	owners := make(map[string]owner, len(ids))
	keys := make([]string, 0, len(ids))
	for id := range ids {
		keys = append(keys, id)
	}
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(keys); start += n {
		chunk := keys[start:min(start+n, len(keys))]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			ph[i], args[i] = fmt.Sprintf("$%d", i+1), id
		}
		rows, err := db.sql.QueryContext(ctx, `SELECT r.command_id, r.agent_id, r.job_id, j.max_output FROM job_runs r
			JOIN jobs j ON j.id = r.job_id WHERE r.command_id IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return nil, 0, fmt.Errorf("find the runs of output: %w", err)
		}
		for rows.Next() {
			var id string
			var o owner
			if err := rows.Scan(&id, &o.agent, &o.job, &o.cap); err != nil {
				rows.Close()
				return nil, 0, fmt.Errorf("find the runs of output: %w", err)
			}
			owners[id] = o
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("find the runs of output: %w", err)
		}
	}
	keep := pieces[:0:0]
	jobs := map[string]bool{}
	for _, p := range pieces {
		o, ok := owners[p.CommandID]
		limit := o.cap
		if limit == 0 {
			limit = protocol.MaxScriptOutput // each agent caps by its policy
		}
		if !ok || o.agent != p.AgentID || p.Pos < 0 || p.Pos+int64(len(p.Data)) > limit {
			refused++
			continue
		}
		keep = append(keep, p)
		jobs[o.job] = true
	}
	if len(keep) > 0 {
		err = db.WithTx(ctx, func(tx *Tx) error {
			return tx.insertRows(ctx, `INSERT INTO job_output (command_id, stream, pos, data) VALUES `,
				` ON CONFLICT (command_id, stream, pos) DO NOTHING`, 4, len(keep), func(i int) []any {
					return []any{keep[i].CommandID, keep[i].Stream, keep[i].Pos, keep[i].Data}
				})
		})
		if err != nil {
			return nil, refused, fmt.Errorf("store run output: %w", err)
		}
	}
	for id := range jobs {
		jobIDs = append(jobIDs, id)
	}
	sort.Strings(jobIDs)
	return jobIDs, refused, nil
}

// JobOutput returns a run's stored output of stream from byte from on,
// at most limit bytes, as stored pieces joined; it stops at the first gap.
func (db *DB) JobOutput(ctx context.Context, commandID, stream string, from, limit int64) ([]byte, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT pos, data FROM job_output WHERE command_id = $1 AND stream = $2
		AND pos + length(data) > $3 ORDER BY pos`, commandID, stream, from)
	if err != nil {
		return nil, fmt.Errorf("read the output of run %s: %w", commandID, err)
	}
	defer rows.Close()
	var out []byte
	at := from
	for rows.Next() && int64(len(out)) < limit {
		var (
			pos  int64
			data []byte
		)
		if err := rows.Scan(&pos, &data); err != nil {
			return nil, fmt.Errorf("read the output of run %s: %w", commandID, err)
		}
		if pos > at {
			break // a gap: the rest is asked of the agent again
		}
		data = data[at-pos:]
		if room := limit - int64(len(out)); int64(len(data)) > room {
			data = data[:room]
		}
		out = append(out, data...)
		at += int64(len(data))
	}
	return out, rows.Err()
}

// OutputGap returns where a run's stored output of stream stops being
// contiguous from byte 0: the stored length when it has no gap.
func (db *DB) OutputGap(ctx context.Context, commandID, stream string) (int64, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT pos, length(data) FROM job_output WHERE command_id = $1 AND stream = $2 ORDER BY pos`,
		commandID, stream)
	if err != nil {
		return 0, fmt.Errorf("read the output of run %s: %w", commandID, err)
	}
	defer rows.Close()
	var at int64
	for rows.Next() {
		var pos, n int64
		if err := rows.Scan(&pos, &n); err != nil {
			return 0, fmt.Errorf("read the output of run %s: %w", commandID, err)
		}
		if pos > at {
			break
		}
		at = max(at, pos+n)
	}
	return at, rows.Err()
}

// RunsToCheck returns finished runs whose output is not known complete,
// oldest first: the output sweep compares what is stored with what the
// result says the agent kept.
func (db *DB) RunsToCheck(ctx context.Context, limit int) ([]JobRun, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+jobRunColumns+jobRunFrom+`WHERE r.output_complete = 0
		AND c.state IN ('done', 'failed', 'expired', 'cancelled') ORDER BY r.command_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("runs to check: %w", err)
	}
	defer rows.Close()
	var out []JobRun
	for rows.Next() {
		r, err := scanJobRun(rows)
		if err != nil {
			return nil, fmt.Errorf("runs to check: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkOutputComplete records that runs' output is all stored (or all
// there will be).
func (db *DB) MarkOutputComplete(ctx context.Context, commandIDs []string) error {
	return db.updateRuns(ctx, `UPDATE job_runs SET output_complete = 1 WHERE command_id IN `, nil, commandIDs)
}

// MarkOutputAsked records when the agent was asked for runs' missing
// output.
func (db *DB) MarkOutputAsked(ctx context.Context, commandIDs []string, at time.Time) error {
	return db.updateRuns(ctx, `UPDATE job_runs SET output_asked_at = $1 WHERE command_id IN `, []any{ms(at)}, commandIDs)
}

func (db *DB) updateRuns(ctx context.Context, head string, lead []any, ids []string) error {
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(ids); start += n {
		chunk := ids[start:min(start+n, len(ids))]
		args := append([]any{}, lead...)
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		if _, err := db.sql.ExecContext(ctx, head+`(`+strings.Join(ph, ", ")+`)`, args...); err != nil {
			return fmt.Errorf("update runs: %w", err)
		}
	}
	return nil
}

// CancelJob marks a job cancelled and its commands not yet delivered
// cancelled. It returns those it cancelled and those already delivered
// and unfinished: a command is marked sent after it is written, so one of
// the first may have reached its agent, which is why the caller tells the
// online agents of both to drop or kill the run.
func (t *Tx) CancelJob(ctx context.Context, jobID, by string) (cancelled, delivered []Command, err error) {
	now := ms(t.db.now())
	res, err := t.q.ExecContext(ctx, `UPDATE jobs SET cancelled_by = $1, cancelled_at = $2 WHERE id = $3 AND cancelled_at IS NULL`, by, now, jobID)
	if err != nil {
		return nil, nil, fmt.Errorf("cancel job %s: %w", jobID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		err := t.q.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = $1`, jobID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, fmt.Errorf("job %s: %w", jobID, ErrNotFound)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("cancel job %s: %w", jobID, err)
		}
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+commandColumns+` FROM commands WHERE batch_id = $1 AND state IN ($2, $3)`,
		jobID, CommandQueued, CommandSent)
	if err != nil {
		return nil, nil, fmt.Errorf("find the open runs of job %s: %w", jobID, err)
	}
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("find the open runs of job %s: %w", jobID, err)
		}
		if c.State == CommandQueued {
			cancelled = append(cancelled, c)
		} else {
			delivered = append(delivered, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("find the open runs of job %s: %w", jobID, err)
	}
	if _, err := t.q.ExecContext(ctx, `UPDATE commands SET state = $1, finished_at = $2 WHERE batch_id = $3 AND state = $4`,
		CommandCancelled, now, jobID, CommandQueued); err != nil {
		return nil, nil, fmt.Errorf("cancel the queued runs of job %s: %w", jobID, err)
	}
	return cancelled, delivered, nil
}

// JobRunOf returns a job's run on an agent.
func (db *DB) JobRunOf(ctx context.Context, jobID, agentID string) (JobRun, error) {
	r, err := scanJobRun(db.sql.QueryRowContext(ctx, `SELECT `+jobRunColumns+jobRunFrom+`WHERE r.job_id = $1 AND r.agent_id = $2`, jobID, agentID))
	if errors.Is(err, sql.ErrNoRows) {
		return JobRun{}, fmt.Errorf("run of job %s on agent %s: %w", jobID, agentID, ErrNotFound)
	}
	if err != nil {
		return JobRun{}, fmt.Errorf("read the run of job %s on agent %s: %w", jobID, agentID, err)
	}
	return r, nil
}

// RunMatch matches a job's runs by their command's state, whether they
// started and, for done runs, their result status: the pieces a run's
// status is made of (see jobs.View). Empty fields match anything.
type RunMatch struct {
	State   string
	Started *bool
	// Results keeps done runs whose result status is one of these;
	// NotResults keeps those whose status is none of these.
	Results, NotResults []string
}

// FilteredJobRuns lists a page of a job's runs that any of match
// matches, by hostname; no match at all lists none. It does not count
// them: JobRunCounts has (a second pass over the results of 10,000 runs
// would double the time).
func (db *DB) FilteredJobRuns(ctx context.Context, jobID string, match []RunMatch, p Page) ([]JobRun, error) {
	if len(match) == 0 {
		return []JobRun{}, nil
	}
	args := []any{jobID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	list := func(vs []string) string {
		ph := make([]string, len(vs))
		for i, v := range vs {
			ph[i] = arg(v)
		}
		return strings.Join(ph, ", ")
	}
	result := db.dialect.jsonText("c.output", "status")
	var ors []string
	for _, m := range match {
		ands := []string{"1 = 1"}
		if m.State != "" {
			ands = append(ands, "c.state = "+arg(m.State))
		}
		if m.Started != nil {
			ands = append(ands, map[bool]string{true: "r.started_at IS NOT NULL", false: "r.started_at IS NULL"}[*m.Started])
		}
		if len(m.Results) > 0 {
			ands = append(ands, result+" IN ("+list(m.Results)+")")
		}
		if len(m.NotResults) > 0 {
			ands = append(ands, result+" NOT IN ("+list(m.NotResults)+")")
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	runs, _, err := db.jobRunsWhere(ctx, jobID, jobRunFrom, `r.job_id = $1 AND (`+strings.Join(ors, " OR ")+`)`, args, p, false)
	return runs, err
}
