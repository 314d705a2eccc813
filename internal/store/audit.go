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

// maxAuditActors bounds the actor IDs a name filter is resolved to; a
// name matching more is filtered by a scan of the entries' names.
const maxAuditActors = 500

// auditActorLabels are the names of the actors that are no user or agent
// (as access.Principal.ActorName writes them), by actor type.
var auditActorLabels = map[string]string{"console": "console", "setup": "setup link", "api_token": "(api token)"}

// auditActors resolves part of an actor's name, ignoring case, to the IDs
// of the users (by email) and agents (by hostname) it matches and the
// actor types whose label it matches, so that the audit log is filtered
// through its actor index rather than by reading every entry's name. Both
// are nil when more than maxAuditActors match. An entry names its actor
// as it was then: a user whose email changed since is found by the new
// one.
func (db *DB) auditActors(ctx context.Context, part string) (ids, types []string, err error) {
	part = strings.ToLower(part)
	like := "%" + escapeLike(part) + "%"
	for _, q := range []string{
		`SELECT id FROM users WHERE lower(email) LIKE $1 ESCAPE '\' LIMIT $2`,
		`SELECT id FROM agents WHERE lower(hostname) LIKE $1 ESCAPE '\' LIMIT $2`,
	} {
		rows, err := db.sql.QueryContext(ctx, q, like, maxAuditActors+1)
		if err != nil {
			return nil, nil, fmt.Errorf("resolve audit actor %q: %w", part, err)
		}
		n := 0
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("resolve audit actor %q: %w", part, err)
			}
			ids = append(ids, id)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("resolve audit actor %q: %w", part, err)
		}
		if n > maxAuditActors {
			return nil, nil, nil
		}
	}
	for typ, label := range auditActorLabels {
		if strings.Contains(label, part) {
			types = append(types, typ)
		}
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, types, nil
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
		ids, types, err := db.auditActors(ctx, f.Actor)
		switch {
		case err != nil:
			return nil, 0, err
		case ids == nil && types == nil:
			// Too many actors match to list: scan the names.
			args = append(args, "%"+escapeLike(strings.ToLower(f.Actor))+"%")
			conds = append(conds, fmt.Sprintf(`lower(actor_name) LIKE $%d ESCAPE '\'`, len(args)))
		default:
			var or []string
			if len(ids) > 0 {
				in, a := inList(len(args)+1, ids)
				args = append(args, a...)
				or = append(or, "actor_id IN ("+in+")")
			}
			if len(types) > 0 {
				in, a := inList(len(args)+1, types)
				args = append(args, a...)
				or = append(or, "actor_type IN ("+in+")")
			}
			if len(or) == 0 {
				or = append(or, "1 = 0")
			}
			conds = append(conds, "("+strings.Join(or, " OR ")+")")
		}
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

// AuditTarget is what an audit entry's target is called now.
type AuditTarget struct {
	// Name is the agent's hostname, the client's, site's, policy's or
	// channel's name, the user's email or the alert's rule.
	Name string
	// Parent is a site's client and an alert's agent (hostname), with
	// ParentID the alert's agent ID.
	Parent, ParentID string
}

// auditTargetQueries read the names of targets by kind, selecting the
// ID, Name, Parent and ParentID; the IDs are appended as an IN list.
var auditTargetQueries = map[string]string{
	LevelAgent:  `SELECT id, hostname, '', '' FROM agents WHERE id IN `,
	LevelClient: `SELECT id, name, '', '' FROM clients WHERE id IN `,
	LevelSite:   `SELECT s.id, s.name, c.name, '' FROM sites s JOIN clients c ON c.id = s.client_id WHERE s.id IN `,
	"policy":    `SELECT id, name, '', '' FROM policies WHERE id IN `,
	"channel":   `SELECT id, name, '', '' FROM notification_channels WHERE id IN `,
	"user":      `SELECT id, email, '', '' FROM users WHERE id IN `,
	"alert":     `SELECT al.id, al.rule, ag.hostname, al.agent_id FROM alerts al JOIN agents ag ON ag.id = al.agent_id WHERE al.id IN `,
}

// AuditTargets names the targets of entries as they are called now, in
// one query per kind of target (a page of the audit log costs a handful
// of queries, not one per entry): kind → ID → target. A target since
// deleted, or of a kind without a name, is absent.
func (db *DB) AuditTargets(ctx context.Context, entries []AuditEntry) (map[string]map[string]AuditTarget, error) {
	byType := map[string][]string{}
	seen := map[[2]string]bool{}
	for _, e := range entries {
		k := [2]string{e.TargetType, e.TargetID}
		if _, ok := auditTargetQueries[e.TargetType]; ok && e.TargetID != "" && !seen[k] {
			seen[k] = true
			byType[e.TargetType] = append(byType[e.TargetType], e.TargetID)
		}
	}
	out := make(map[string]map[string]AuditTarget, len(byType))
	for typ, ids := range byType {
		in, args := inList(1, ids)
		rows, err := db.sql.QueryContext(ctx, auditTargetQueries[typ]+"("+in+")", args...)
		if err != nil {
			return nil, fmt.Errorf("name audit targets (%s): %w", typ, err)
		}
		names := make(map[string]AuditTarget, len(ids))
		for rows.Next() {
			var (
				id string
				t  AuditTarget
			)
			if err := rows.Scan(&id, &t.Name, &t.Parent, &t.ParentID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("name audit targets (%s): %w", typ, err)
			}
			names[id] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("name audit targets (%s): %w", typ, err)
		}
		out[typ] = names
	}
	return out, nil
}
