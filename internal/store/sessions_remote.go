package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RemoteSession is a terminal (later file) session relayed through a
// replica between a user's browser and an agent.
type RemoteSession struct {
	ID        string    `json:"id"`
	AgentID   string    `json:"agent_id"`
	Hostname  string    `json:"hostname"` // the agent's, when read
	UserID    string    `json:"user_id"`
	UserName  string    `json:"user_name"`
	Kind      string    `json:"kind"`
	ReplicaID string    `json:"replica_id"`
	StartedAt time.Time `json:"started_at"`
	// EndedAt is zero while the session is live.
	EndedAt        time.Time `json:"ended_at,omitzero"`
	BytesToAgent   int64     `json:"bytes_to_agent"`
	BytesToBrowser int64     `json:"bytes_to_browser"`
	EndReason      string    `json:"end_reason,omitempty"`
}

// CreateRemoteSession stores a new, live session; StartedAt is set here.
func (t *Tx) CreateRemoteSession(ctx context.Context, s RemoteSession) (RemoteSession, error) {
	s.StartedAt = fromMS(ms(t.db.now()))
	_, err := t.q.ExecContext(ctx, `INSERT INTO remote_sessions (id, agent_id, user_id, user_name, kind, replica_id, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.ID, s.AgentID, s.UserID, s.UserName, s.Kind, s.ReplicaID, ms(s.StartedAt))
	if err != nil {
		return RemoteSession{}, fmt.Errorf("create remote session: %w", err)
	}
	return s, nil
}

// EndRemoteSession records a live session's end, its byte counts and
// reason, and returns the row as ended. A session already ended is
// ErrNotFound.
func (t *Tx) EndRemoteSession(ctx context.Context, id string, toAgent, toBrowser int64, reason string) (RemoteSession, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE remote_sessions SET ended_at = $2, bytes_to_agent = $3, bytes_to_browser = $4, end_reason = $5
		WHERE id = $1 AND ended_at = 0`, id, ms(t.db.now()), toAgent, toBrowser, reason)
	if err != nil {
		return RemoteSession{}, fmt.Errorf("end remote session %s: %w", id, err)
	}
	if err := expectOne(res, "live remote session "+id); err != nil {
		return RemoteSession{}, err
	}
	return t.remoteSession(ctx, id)
}

// EndReplicaSessions ends the sessions a replica left live when it
// stopped without ending them (a crash): nothing relays them any more.
// replicaID "" ends every live session (SQLite's single replica, on
// start).
func (db *DB) EndReplicaSessions(ctx context.Context, replicaID, reason string) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE remote_sessions SET ended_at = $2, end_reason = $3
		WHERE ($1 = '' OR replica_id = $1) AND ended_at = 0`, replicaID, ms(db.now()), reason)
	if err != nil {
		return 0, fmt.Errorf("end sessions of replica %s: %w", replicaID, err)
	}
	return res.RowsAffected()
}

// RemoteSession returns one session.
func (db *DB) RemoteSession(ctx context.Context, id string) (RemoteSession, error) {
	return db.q().remoteSession(ctx, id)
}

// remoteSessionSelect reads sessions with their agent's host name ("" once
// the agent is deleted).
const remoteSessionSelect = `SELECT rs.id, rs.agent_id, COALESCE(a.hostname, ''), rs.user_id, rs.user_name, rs.kind, rs.replica_id,
	rs.started_at, rs.ended_at, rs.bytes_to_agent, rs.bytes_to_browser, rs.end_reason
	FROM remote_sessions rs LEFT JOIN agents a ON a.id = rs.agent_id`

func scanRemoteSession(r row) (RemoteSession, error) {
	var (
		s            RemoteSession
		started, end int64
	)
	err := r.Scan(&s.ID, &s.AgentID, &s.Hostname, &s.UserID, &s.UserName, &s.Kind, &s.ReplicaID, &started, &end,
		&s.BytesToAgent, &s.BytesToBrowser, &s.EndReason)
	s.StartedAt = fromMS(started)
	if end != 0 {
		s.EndedAt = fromMS(end)
	}
	return s, err
}

func (t *Tx) remoteSession(ctx context.Context, id string) (RemoteSession, error) {
	s, err := scanRemoteSession(t.q.QueryRowContext(ctx, remoteSessionSelect+` WHERE rs.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return RemoteSession{}, fmt.Errorf("remote session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return RemoteSession{}, fmt.Errorf("load remote session %s: %w", id, err)
	}
	return s, nil
}

// RemoteSessions lists sessions newest first: the live ones only, or the
// agent's (live and ended) when agentID is set.
func (db *DB) RemoteSessions(ctx context.Context, agentID string, p Page) ([]RemoteSession, error) {
	if agentID == "" {
		return queryAll(ctx, db.sql, "list live remote sessions", scanRemoteSession,
			remoteSessionSelect+` WHERE rs.ended_at = 0 ORDER BY rs.started_at DESC, rs.id LIMIT $1 OFFSET $2`, p.Limit, p.Offset)
	}
	return queryAll(ctx, db.sql, "list remote sessions of "+agentID, scanRemoteSession,
		remoteSessionSelect+` WHERE rs.agent_id = $1 ORDER BY rs.started_at DESC, rs.id LIMIT $2 OFFSET $3`, agentID, p.Limit, p.Offset)
}
