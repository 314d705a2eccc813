package store

import (
	"context"
	"fmt"
	"time"
)

// MaintenanceWindow silences new alerts of a client, site or agent.
type MaintenanceWindow struct {
	ID        string    `json:"id"`
	Level     string    `json:"level"` // client, site or agent
	TargetID  string    `json:"target_id"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateMaintenanceWindow stores a window.
func (t *Tx) CreateMaintenanceWindow(ctx context.Context, w MaintenanceWindow) (MaintenanceWindow, error) {
	w.ID, w.CreatedAt = NewID(), fromMS(ms(t.db.now()))
	w.StartsAt, w.EndsAt = fromMS(ms(w.StartsAt)), fromMS(ms(w.EndsAt))
	_, err := t.q.ExecContext(ctx, `INSERT INTO maintenance_windows (id, level, target_id, starts_at, ends_at, reason, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, w.ID, w.Level, w.TargetID, ms(w.StartsAt), ms(w.EndsAt), w.Reason, w.CreatedBy, ms(w.CreatedAt))
	if err != nil {
		return MaintenanceWindow{}, fmt.Errorf("create maintenance window: %w", err)
	}
	return w, nil
}

// DeleteMaintenanceWindow ends a window early by removing it.
func (t *Tx) DeleteMaintenanceWindow(ctx context.Context, id string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM maintenance_windows WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete maintenance window %s: %w", id, err)
	}
	return expectOne(res, "maintenance window "+id)
}

// ListMaintenanceWindows returns windows that have not ended, soonest
// ending first.
func (db *DB) ListMaintenanceWindows(ctx context.Context) ([]MaintenanceWindow, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, level, target_id, starts_at, ends_at, reason, created_by, created_at
		FROM maintenance_windows WHERE ends_at > $1 ORDER BY ends_at, id`, ms(db.now()))
	if err != nil {
		return nil, fmt.Errorf("list maintenance windows: %w", err)
	}
	defer rows.Close()
	out := []MaintenanceWindow{}
	for rows.Next() {
		var (
			w                       MaintenanceWindow
			starts, ends, createdAt int64
		)
		if err := rows.Scan(&w.ID, &w.Level, &w.TargetID, &starts, &ends, &w.Reason, &w.CreatedBy, &createdAt); err != nil {
			return nil, fmt.Errorf("list maintenance windows: %w", err)
		}
		w.StartsAt, w.EndsAt, w.CreatedAt = fromMS(starts), fromMS(ends), fromMS(createdAt)
		out = append(out, w)
	}
	return out, rows.Err()
}

// InMaintenance reports whether an agent, its site or its client is in a
// maintenance window at time at.
func (db *DB) InMaintenance(ctx context.Context, agentID, clientID, siteID string, at time.Time) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM maintenance_windows WHERE starts_at <= $1 AND ends_at > $1 AND
		((level = 'agent' AND target_id = $2) OR (level = 'site' AND target_id = $3) OR (level = 'client' AND target_id = $4))`,
		ms(at), agentID, siteID, clientID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check maintenance of %s: %w", agentID, err)
	}
	return n > 0, nil
}
