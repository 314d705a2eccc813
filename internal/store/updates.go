package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Update steps the server records, besides those agents report
// (protocol.Update*): offered when an offer is queued for the agent, and
// cancelled when an offer not yet taken is called back (the agent reports
// cancelled too, with the same spelling, when its download is refused).
const (
	UpdateOffered   = "offered"
	UpdateCancelled = "cancelled"
)

// terminalSteps end an update; a late report of an earlier step (from a
// connection that closed before its messages were handled) does not
// overwrite them.
var terminalSteps = map[string]bool{"confirmed": true, "rolled_back": true, "refused": true, "failed": true, UpdateCancelled: true}

// AgentUpdate is where one agent stands with one release.
type AgentUpdate struct {
	AgentID     string    `json:"agent_id"`
	Hostname    string    `json:"hostname,omitempty"`
	ReleaseID   string    `json:"release_id"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Step        string    `json:"step"`
	Reason      string    `json:"reason"`
	Log         string    `json:"log,omitempty"`
	Done        int64     `json:"done"`
	Total       int64     `json:"total"`
	StartedAt   time.Time `json:"started_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// UpdateEvent is one step in an agent's update history.
type UpdateEvent struct {
	ReleaseID string    `json:"release_id"`
	Step      string    `json:"step"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// RecordUpdateStep stores a step of an agent's update of a release and
// reports whether it changed the step. A step of an update that already
// ended is ignored unless it is UpdateOffered (a new attempt).
func (t *Tx) RecordUpdateStep(ctx context.Context, u AgentUpdate) (bool, error) {
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = t.db.now()
	}
	at := ms(u.UpdatedAt)
	var cur string
	err := t.q.QueryRowContext(ctx, `SELECT step FROM agent_updates WHERE agent_id = $1 AND release_id = $2`, u.AgentID, u.ReleaseID).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = t.q.ExecContext(ctx, `INSERT INTO agent_updates (agent_id, release_id, from_version, to_version, step, reason, log, done, total, started_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			u.AgentID, u.ReleaseID, u.FromVersion, u.ToVersion, u.Step, u.Reason, u.Log, u.Done, u.Total, at)
	case err != nil:
	case terminalSteps[cur] && u.Step != UpdateOffered && !terminalSteps[u.Step]:
		return false, nil
	case cur == u.Step && u.Step != "downloading":
		return false, nil
	default:
		started := `started_at`
		if u.Step == UpdateOffered {
			started = `$9`
		}
		_, err = t.q.ExecContext(ctx, `UPDATE agent_updates SET from_version = CASE WHEN $1 = '' THEN from_version ELSE $1 END,
			to_version = CASE WHEN $2 = '' THEN to_version ELSE $2 END, step = $3, reason = $4, log = $5, done = $6, total = $7,
			updated_at = $9, started_at = `+started+` WHERE agent_id = $10 AND release_id = $8`,
			u.FromVersion, u.ToVersion, u.Step, u.Reason, u.Log, u.Done, u.Total, u.ReleaseID, at, u.AgentID)
	}
	if err != nil {
		return false, fmt.Errorf("record update step %s of %s: %w", u.Step, u.AgentID, err)
	}
	if cur == u.Step {
		return false, nil // progress of a download: no event
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO agent_update_events (id, agent_id, release_id, step, reason, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		NewID(), u.AgentID, u.ReleaseID, u.Step, u.Reason, at); err != nil {
		return false, fmt.Errorf("record update event of %s: %w", u.AgentID, err)
	}
	return true, nil
}

const agentUpdateColumns = `u.agent_id, a.hostname, u.release_id, u.from_version, u.to_version, u.step, u.reason, u.log, u.done, u.total, u.started_at, u.updated_at`

func scanAgentUpdates(rows *sql.Rows) ([]AgentUpdate, error) {
	defer rows.Close()
	out := []AgentUpdate{}
	for rows.Next() {
		var (
			u                AgentUpdate
			started, updated int64
		)
		if err := rows.Scan(&u.AgentID, &u.Hostname, &u.ReleaseID, &u.FromVersion, &u.ToVersion, &u.Step, &u.Reason, &u.Log,
			&u.Done, &u.Total, &started, &updated); err != nil {
			return nil, err
		}
		u.StartedAt, u.UpdatedAt = fromMS(started), fromMS(updated)
		out = append(out, u)
	}
	return out, rows.Err()
}

// AgentUpdates lists an agent's updates, newest first.
func (db *DB) AgentUpdates(ctx context.Context, agentID string) ([]AgentUpdate, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+agentUpdateColumns+` FROM agent_updates u JOIN agents a ON a.id = u.agent_id
		WHERE u.agent_id = $1 ORDER BY u.started_at DESC, u.release_id DESC`, agentID)
	if err != nil {
		return nil, fmt.Errorf("list updates of %s: %w", agentID, err)
	}
	out, err := scanAgentUpdates(rows)
	if err != nil {
		return nil, fmt.Errorf("list updates of %s: %w", agentID, err)
	}
	return out, nil
}

// ReleaseUpdates lists the agents offered a release, latest change first.
func (db *DB) ReleaseUpdates(ctx context.Context, releaseID string, p Page) ([]AgentUpdate, int, error) {
	p = p.Normalize()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_updates WHERE release_id = $1`, releaseID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count updates of release %s: %w", releaseID, err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+agentUpdateColumns+` FROM agent_updates u JOIN agents a ON a.id = u.agent_id
		WHERE u.release_id = $1 ORDER BY u.updated_at DESC, u.agent_id LIMIT $2 OFFSET $3`, releaseID, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list updates of release %s: %w", releaseID, err)
	}
	out, err := scanAgentUpdates(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list updates of release %s: %w", releaseID, err)
	}
	return out, total, nil
}

// ReleaseStepCounts counts a release's agents by their current step.
func (db *DB) ReleaseStepCounts(ctx context.Context, releaseID string) (map[string]int, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT step, COUNT(*) FROM agent_updates WHERE release_id = $1 GROUP BY step`, releaseID)
	if err != nil {
		return nil, fmt.Errorf("count steps of release %s: %w", releaseID, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			step string
			n    int
		)
		if err := rows.Scan(&step, &n); err != nil {
			return nil, fmt.Errorf("count steps of release %s: %w", releaseID, err)
		}
		out[step] = n
	}
	return out, rows.Err()
}

// UpdateEvents returns an agent's update history, newest first, at most
// limit events.
func (db *DB) UpdateEvents(ctx context.Context, agentID string, limit int) ([]UpdateEvent, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT release_id, step, reason, at FROM agent_update_events WHERE agent_id = $1
		ORDER BY at DESC, id DESC LIMIT $2`, agentID, limit)
	if err != nil {
		return nil, fmt.Errorf("update history of %s: %w", agentID, err)
	}
	defer rows.Close()
	out := []UpdateEvent{}
	for rows.Next() {
		var (
			e  UpdateEvent
			at int64
		)
		if err := rows.Scan(&e.ReleaseID, &e.Step, &e.Reason, &at); err != nil {
			return nil, fmt.Errorf("update history of %s: %w", agentID, err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// UpdateStep returns where an agent stands with a release, "" when it was
// never offered it.
func (db *DB) UpdateStep(ctx context.Context, agentID, releaseID string) (string, error) {
	var step string
	err := db.sql.QueryRowContext(ctx, `SELECT step FROM agent_updates WHERE agent_id = $1 AND release_id = $2`, agentID, releaseID).Scan(&step)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("update step of %s: %w", agentID, err)
	}
	return step, nil
}

// NewestRelease returns the newest active release of a channel for a
// platform by semantic version order, as judged by newer(a, b) > 0, or
// ErrNotFound.
func (db *DB) NewestRelease(ctx context.Context, channel, goos, goarch string, compare func(a, b string) int) (Release, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+releaseColumns+` FROM releases WHERE channel = $1 AND os = $2 AND arch = $3 AND status = $4`,
		channel, goos, goarch, ReleaseActive)
	if err != nil {
		return Release{}, fmt.Errorf("newest release of %s %s/%s: %w", channel, goos, goarch, err)
	}
	defer rows.Close()
	var best Release
	found := false
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return Release{}, fmt.Errorf("newest release of %s %s/%s: %w", channel, goos, goarch, err)
		}
		if !found || compare(r.Version, best.Version) > 0 {
			best, found = r, true
		}
	}
	if err := rows.Err(); err != nil {
		return Release{}, err
	}
	if !found {
		return Release{}, fmt.Errorf("no active %s release for %s/%s: %w", channel, goos, goarch, ErrNotFound)
	}
	return best, nil
}

// RolloutCandidate is an installed agent a release could go to.
type RolloutCandidate struct {
	AgentID, ClientID, SiteID, Version string
}

// RolloutCandidates returns up to limit installed agents of the release's
// platform whose effective channel is the release's and that were never
// offered it, were offered it before staleBefore without an answer (the
// offer expired while they were away) or without a step since (a swap a
// crash undid leaves the update downloading or verified), or whose offer
// was called back, in ID order after afterID (""
// starts at the first), so that a caller that passes over some can page on.
func (db *DB) RolloutCandidates(ctx context.Context, r Release, staleBefore time.Time, afterID string, limit int) ([]RolloutCandidate, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT a.id, a.client_id, a.site_id, a.version
		FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = a.client_id
		WHERE a.uninstalled_at IS NULL AND a.os = $1 AND a.arch = $2
		AND COALESCE(NULLIF(a.update_channel, ''), NULLIF(s.update_channel, ''), NULLIF(c.update_channel, ''), $3) = $4
		AND NOT EXISTS (SELECT 1 FROM agent_updates u WHERE u.agent_id = a.id AND u.release_id = $5
			AND NOT (u.step IN ($6, 'downloading', 'verified') AND u.updated_at < $7) AND u.step <> '`+UpdateCancelled+`')
		AND a.id > $8
		ORDER BY a.id LIMIT $9`,
		r.OS, r.Arch, DefaultUpdateChannel, r.Channel, r.ID, UpdateOffered, ms(staleBefore), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("rollout candidates of release %s: %w", r.ID, err)
	}
	defer rows.Close()
	var out []RolloutCandidate
	for rows.Next() {
		var c RolloutCandidate
		if err := rows.Scan(&c.AgentID, &c.ClientID, &c.SiteID, &c.Version); err != nil {
			return nil, fmt.Errorf("rollout candidates of release %s: %w", r.ID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CancelOffers calls back the offers of a release that no agent has taken
// yet (step offered): they are recorded cancelled with reason, and the
// gateway refuses their download, so an agent that has the offer queued,
// or waits out its spread, never installs it. It returns how many were
// cancelled. Downloads already started go on.
func (t *Tx) CancelOffers(ctx context.Context, releaseID, reason string) (int, error) {
	at := ms(t.db.now())
	rows, err := t.q.QueryContext(ctx, `UPDATE agent_updates SET step = $1, reason = $2, updated_at = $3
		WHERE release_id = $4 AND step = $5 RETURNING agent_id`, UpdateCancelled, reason, at, releaseID, UpdateOffered)
	if err != nil {
		return 0, fmt.Errorf("cancel the offers of release %s: %w", releaseID, err)
	}
	var agents []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("cancel the offers of release %s: %w", releaseID, err)
		}
		agents = append(agents, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("cancel the offers of release %s: %w", releaseID, err)
	}
	for _, id := range agents {
		if _, err := t.q.ExecContext(ctx, `INSERT INTO agent_update_events (id, agent_id, release_id, step, reason, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			NewID(), id, releaseID, UpdateCancelled, reason, at); err != nil {
			return 0, fmt.Errorf("record the cancelled offer of %s: %w", id, err)
		}
	}
	return len(agents), nil
}
