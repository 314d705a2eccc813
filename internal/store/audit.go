package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEntry records one change: who did what to what, when, from where.
type AuditEntry struct {
	ID         string            `json:"id"`
	At         time.Time         `json:"at"`
	ActorType  string            `json:"actor_type"` // user, api_token, agent, system, console
	ActorID    string            `json:"actor_id"`
	ActorName  string            `json:"actor_name"`
	Action     string            `json:"action"` // e.g. client.create
	TargetType string            `json:"target_type"`
	TargetID   string            `json:"target_id"`
	Detail     map[string]string `json:"detail"`
	IP         string            `json:"ip"`
}

// AddAudit appends an entry to the audit log.
func (t *Tx) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.At.IsZero() {
		e.At = t.db.now()
	}
	if e.Detail == nil {
		e.Detail = map[string]string{}
	}
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO audit_log (id, at, actor_type, actor_id, actor_name, action, target_type, target_id, detail, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, ms(e.At), e.ActorType, e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, string(detail), e.IP)
	if err != nil {
		return fmt.Errorf("write audit entry %s: %w", e.Action, err)
	}
	return nil
}

// AddAudit appends an entry outside a transaction.
func (db *DB) AddAudit(ctx context.Context, e AuditEntry) error { return db.q().AddAudit(ctx, e) }

// AuditFilter narrows the audit log.
type AuditFilter struct {
	Action   string // prefix, e.g. "client." or "agent.enroll"
	ActorID  string
	TargetID string
	// Actor matches part of the actor's name, ignoring case.
	Actor string
	// TargetType keeps entries about one kind of object: agent, client...
	TargetType string
	// Since and Until bound the time, Until excluded; zero does not bound.
	Since, Until time.Time
}

// ListAudit returns audit entries newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter, p Page) ([]AuditEntry, int, error) {
	p = p.Normalize()
	var (
		conds []string
		args  []any
	)
	if f.Action != "" {
		args = append(args, escapeLike(f.Action)+"%")
		conds = append(conds, fmt.Sprintf(`action LIKE $%d ESCAPE '\'`, len(args)))
	}
	if f.ActorID != "" {
		args = append(args, f.ActorID)
		conds = append(conds, fmt.Sprintf("actor_id = $%d", len(args)))
	}
	if f.TargetID != "" {
		args = append(args, f.TargetID)
		conds = append(conds, fmt.Sprintf("target_id = $%d", len(args)))
	}
	if f.Actor != "" {
		args = append(args, "%"+escapeLike(strings.ToLower(f.Actor))+"%")
		conds = append(conds, fmt.Sprintf(`lower(actor_name) LIKE $%d ESCAPE '\'`, len(args)))
	}
	if f.TargetType != "" {
		args = append(args, f.TargetType)
		conds = append(conds, fmt.Sprintf("target_type = $%d", len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, ms(f.Since))
		conds = append(conds, fmt.Sprintf("at >= $%d", len(args)))
	}
	if !f.Until.IsZero() {
		args = append(args, ms(f.Until))
		conds = append(conds, fmt.Sprintf("at < $%d", len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit entries: %w", err)
	}
	n := len(args)
	rows, err := db.sql.QueryContext(ctx, `SELECT id, at, actor_type, actor_id, actor_name, action, target_type, target_id, detail, ip
		FROM audit_log`+where+fmt.Sprintf(` ORDER BY at DESC, id DESC LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit entries: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var (
			e      AuditEntry
			at     int64
			detail string
		)
		if err := rows.Scan(&e.ID, &at, &e.ActorType, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &detail, &e.IP); err != nil {
			return nil, 0, fmt.Errorf("list audit entries: %w", err)
		}
		e.At = fromMS(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			e.Detail = map[string]string{"raw": detail}
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}
