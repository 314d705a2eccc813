package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Command states.
const (
	CommandQueued  = "queued"  // stored, not yet written to the agent
	CommandSent    = "sent"    // written to the agent's connection
	CommandDone    = "done"    // the agent answered ok
	CommandFailed  = "failed"  // the agent answered error or unsupported
	CommandExpired = "expired" // no answer before expires_at
)

// Command is one command for one agent.
type Command struct {
	ID           string          `json:"id"`
	BatchID      string          `json:"batch_id"`
	AgentID      string          `json:"agent_id"`
	Name         string          `json:"name"`
	Args         json.RawMessage `json:"args,omitempty"`
	State        string          `json:"state"`
	CreatedBy    string          `json:"created_by"`
	CreatedAt    time.Time       `json:"created_at"`
	ExpiresAt    time.Time       `json:"expires_at"`
	SentAt       time.Time       `json:"sent_at,omitzero"`
	FinishedAt   time.Time       `json:"finished_at,omitzero"`
	ResultStatus string          `json:"result_status,omitempty"`
	// Output is the agent's JSON output.
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// CommandBatch groups the commands of one request to many agents.
type CommandBatch struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Target    string    `json:"target"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Agents    int       `json:"agents"`
}

// CommandTarget is an agent a command goes to, with where it is connected.
type CommandTarget struct {
	AgentID   string
	ReplicaID string
	Online    bool
}

// CommandTargets returns the agents matching f (without paging), with the
// replica holding each.
func (db *DB) CommandTargets(ctx context.Context, f AgentFilter, agentIDs []string) ([]CommandTarget, error) {
	where, args := f.where()
	if len(agentIDs) == 0 {
		return db.commandTargets(ctx, where, args)
	}
	// A chunk of IDs per statement: SQLite looks parameters up linearly,
	// so one IN of ten thousand would cost seconds.
	var out []CommandTarget
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(agentIDs); start += n {
		chunk := agentIDs[start:min(start+n, len(agentIDs))]
		cargs := append([]any{}, args...)
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			cargs = append(cargs, id)
			ph[i] = fmt.Sprintf("$%d", len(cargs))
		}
		cond := "a.id IN (" + strings.Join(ph, ", ") + ")"
		cwhere := " WHERE " + cond
		if where != "" {
			cwhere = where + " AND " + cond
		}
		ts, err := db.commandTargets(ctx, cwhere, cargs)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	slices.SortFunc(out, func(a, b CommandTarget) int { return strings.Compare(a.AgentID, b.AgentID) })
	return out, nil
}

func (db *DB) commandTargets(ctx context.Context, where string, args []any) ([]CommandTarget, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT a.id, a.replica_id, a.online FROM agents a`+where+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("select command targets: %w", err)
	}
	defer rows.Close()
	var out []CommandTarget
	for rows.Next() {
		var t CommandTarget
		if err := rows.Scan(&t.AgentID, &t.ReplicaID, &t.Online); err != nil {
			return nil, fmt.Errorf("select command targets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateCommands stores a batch and its commands in one transaction.
func (t *Tx) CreateCommands(ctx context.Context, b CommandBatch, cmds []Command) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO command_batches (id, name, target, created_by, created_at, agents)
		VALUES ($1, $2, $3, $4, $5, $6)`, b.ID, b.Name, b.Target, b.CreatedBy, ms(b.CreatedAt), b.Agents)
	if err != nil {
		return fmt.Errorf("create command batch: %w", err)
	}
	n := t.db.dialect.rowsPerStatement()
	for start := 0; start < len(cmds); start += n {
		chunk := cmds[start:min(start+n, len(cmds))]
		var (
			sb   strings.Builder
			args []any
		)
		sb.WriteString(`INSERT INTO commands (id, batch_id, agent_id, name, args, state, created_by, created_at, expires_at) VALUES `)
		for i, c := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
			args = append(args, c.ID, c.BatchID, c.AgentID, c.Name, string(c.Args), c.State, c.CreatedBy, ms(c.CreatedAt), ms(c.ExpiresAt))
		}
		if _, err := t.q.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("create commands: %w", err)
		}
	}
	return nil
}

// MarkCommandsSent records that commands were written to their agents.
func (db *DB) MarkCommandsSent(ctx context.Context, ids []string, at time.Time) error {
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(ids); start += n {
		chunk := ids[start:min(start+n, len(ids))]
		args := []any{ms(at)}
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", i+2)
		}
		// state || '': without statistics SQLite would walk every open
		// command through commands_open for each chunk instead of looking
		// up the chunk's IDs.
		_, err := db.sql.ExecContext(ctx, `UPDATE commands SET state = 'sent', sent_at = $1
			WHERE id IN (`+strings.Join(ph, ", ")+`) AND state || '' = 'queued'`, args...)
		if err != nil {
			return fmt.Errorf("mark commands sent: %w", err)
		}
	}
	return nil
}

// CommandResult is an agent's answer to store.
type CommandResult struct {
	CommandID string
	AgentID   string
	Status    string // protocol result status
	Output    string
	Error     string
	At        time.Time
}

// ApplyResults stores results in one statement per chunk. A result counts
// only for a command that belongs to the answering agent and is still
// open, or was cancelled (it reached the agent before the cancellation:
// what it did is recorded); it returns how many were applied. Of several answers of an agent
// to one command the first counts, as if they were stored one by one: an
// UPDATE joined to two of them would take either, and the later one is
// typically an agent's "not run twice" error after it restarted, for a
// command offered again while its good answer waited to be stored.
func (db *DB) ApplyResults(ctx context.Context, results []CommandResult) (int, error) {
	results = firstAnswers(results)
	applied := 0
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(results); start += n {
		chunk := results[start:min(start+n, len(results))]
		var (
			sb   strings.Builder
			args []any
		)
		sb.WriteString(`WITH v (id, agent_id, state, status, output, error, at) AS (VALUES `)
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, CAST($%d AS BIGINT))", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
			state := CommandDone
			if r.Status != "ok" {
				state = CommandFailed
			}
			args = append(args, r.CommandID, r.AgentID, state, r.Status, r.Output, r.Error, ms(r.At))
		}
		sb.WriteString(`) UPDATE commands SET state = v.state, result_status = v.status, output = v.output, error = v.error,
			finished_at = v.at, sent_at = COALESCE(commands.sent_at, v.at) FROM v WHERE commands.id = v.id AND commands.agent_id = v.agent_id
			AND commands.state IN ('queued', 'sent', 'cancelled')`)
		res, err := db.sql.ExecContext(ctx, sb.String(), args...)
		if err != nil {
			return applied, fmt.Errorf("store command results: %w", err)
		}
		n, _ := res.RowsAffected()
		applied += int(n)
	}
	return applied, nil
}

// firstAnswers drops every answer of an agent to a command after its
// first, keeping the order (results is not changed).
func firstAnswers(results []CommandResult) []CommandResult {
	type key struct{ command, agent string }
	seen := make(map[key]bool, len(results))
	out := results[:0:0]
	for _, r := range results {
		k := key{r.CommandID, r.AgentID}
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// ExpireCommands marks open commands past their deadline expired.
func (db *DB) ExpireCommands(ctx context.Context) (int64, error) {
	now := ms(db.now())
	res, err := db.sql.ExecContext(ctx, `UPDATE commands SET state = 'expired', finished_at = $1
		WHERE state IN ('queued', 'sent') AND expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("expire commands: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

const commandColumns = `id, batch_id, agent_id, name, args, state, created_by, created_at, expires_at, sent_at, finished_at,
	result_status, output, error`

func scanCommand(row interface{ Scan(...any) error }) (Command, error) {
	var (
		c                Command
		created, expires int64
		sent, finished   sql.NullInt64
		output, cmdArgs  string
	)
	err := row.Scan(&c.ID, &c.BatchID, &c.AgentID, &c.Name, &cmdArgs, &c.State, &c.CreatedBy, &created, &expires,
		&sent, &finished, &c.ResultStatus, &output, &c.Error)
	if err != nil {
		return Command{}, err
	}
	if output != "" {
		c.Output = json.RawMessage(output)
	}
	if cmdArgs != "" {
		c.Args = json.RawMessage(cmdArgs)
	}
	c.CreatedAt, c.ExpiresAt, c.SentAt, c.FinishedAt = fromMS(created), fromMS(expires), fromNullMS(sent), fromNullMS(finished)
	return c, nil
}

// Command loads one command.
func (db *DB) Command(ctx context.Context, id string) (Command, error) {
	c, err := scanCommand(db.sql.QueryRowContext(ctx, `SELECT `+commandColumns+` FROM commands WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Command{}, fmt.Errorf("command %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Command{}, fmt.Errorf("load command %s: %w", id, err)
	}
	return c, nil
}

// OpenCommands returns an agent's open (queued or sent), unexpired
// commands, oldest first, to deliver when it connects.
func (db *DB) OpenCommands(ctx context.Context, agentID string) ([]Command, error) {
	byAgent, err := db.OpenCommandsFor(ctx, []string{agentID})
	return byAgent[agentID], err
}

// OpenCommandsFor returns the open, unexpired commands of several agents at
// once, oldest first per agent, for agents connecting together. Sent ones
// are included: the answer to a command sent before a crash or a dropped
// connection may never have been stored, and the agent answers a command
// it already ran with its result again.
func (db *DB) OpenCommandsFor(ctx context.Context, agentIDs []string) (map[string][]Command, error) {
	out := map[string][]Command{}
	n := db.dialect.rowsPerStatement()
	for start := 0; start < len(agentIDs); start += n {
		chunk := agentIDs[start:min(start+n, len(agentIDs))]
		args := []any{ms(db.now())}
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", i+2)
		}
		// state || '' keeps SQLite on commands_agent, not walking every
		// open command for each chunk of agents.
		rows, err := db.sql.QueryContext(ctx, `SELECT `+commandColumns+` FROM commands
			WHERE agent_id IN (`+strings.Join(ph, ", ")+`) AND state || '' IN ('queued', 'sent') AND expires_at > $1
			ORDER BY created_at, id`, args...)
		if err != nil {
			return nil, fmt.Errorf("load open commands: %w", err)
		}
		for rows.Next() {
			c, err := scanCommand(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("load open commands: %w", err)
			}
			out[c.AgentID] = append(out[c.AgentID], c)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("load open commands: %w", err)
		}
	}
	return out, nil
}

// QueuedForReplica returns the unexpired commands created before
// createdBefore that are still queued for agents the replica holds,
// oldest first, at most limit. Such a command was routed to the replica
// and lost on the way (a bus outage drops messages), or its sending was
// never recorded; the replica offers it again.
func (db *DB) QueuedForReplica(ctx context.Context, replicaID string, createdBefore time.Time, limit int) ([]Command, error) {
	cols := "c." + strings.Join(strings.Split(strings.Join(strings.Fields(commandColumns), " "), ", "), ", c.")
	return queryAll(ctx, db.sql, "load commands queued for replica "+replicaID, scanCommand, `SELECT `+cols+`
		FROM commands c JOIN agents a ON a.id = c.agent_id
		WHERE c.state = 'queued' AND c.expires_at > $1 AND c.created_at < $2 AND a.replica_id = $3 AND a.online
		ORDER BY c.created_at, c.id LIMIT $4`, ms(db.now()), ms(createdBefore), replicaID, limit)
}

// ListAgentCommands returns an agent's commands, newest first.
func (db *DB) ListAgentCommands(ctx context.Context, agentID string, p Page) ([]Command, int, error) {
	p = p.Normalize()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM commands WHERE agent_id = $1`, agentID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count commands: %w", err)
	}
	out, err := queryAll(ctx, db.sql, "list commands", scanCommand, `SELECT `+commandColumns+` FROM commands WHERE agent_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`, agentID, p.Limit, p.Offset)
	return out, total, err
}

// BatchStatus is a batch with its commands counted by state.
type BatchStatus struct {
	CommandBatch
	States map[string]int `json:"states"`
	// Finished counts done, failed and expired commands.
	Finished int `json:"finished"`
}

// CommandBatch loads a batch and counts its commands by state.
func (db *DB) CommandBatch(ctx context.Context, id string) (BatchStatus, error) {
	var (
		b       BatchStatus
		created int64
	)
	err := db.sql.QueryRowContext(ctx, `SELECT id, name, target, created_by, created_at, agents FROM command_batches WHERE id = $1`, id).
		Scan(&b.ID, &b.Name, &b.Target, &b.CreatedBy, &created, &b.Agents)
	if errors.Is(err, sql.ErrNoRows) {
		return BatchStatus{}, fmt.Errorf("command batch %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return BatchStatus{}, fmt.Errorf("load command batch %s: %w", id, err)
	}
	b.CreatedAt = fromMS(created)
	b.States = map[string]int{CommandQueued: 0, CommandSent: 0, CommandDone: 0, CommandFailed: 0, CommandExpired: 0}
	rows, err := db.sql.QueryContext(ctx, `SELECT state, COUNT(*) FROM commands WHERE batch_id = $1 GROUP BY state`, id)
	if err != nil {
		return BatchStatus{}, fmt.Errorf("count batch %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return BatchStatus{}, fmt.Errorf("count batch %s: %w", id, err)
		}
		b.States[state] = n
	}
	b.Finished = b.States[CommandDone] + b.States[CommandFailed] + b.States[CommandExpired]
	return b, rows.Err()
}
