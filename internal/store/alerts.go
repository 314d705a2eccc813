package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Alert states.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Alert is a threshold alert of one agent.
type Alert struct {
	ID             string    `json:"id"`
	AgentID        string    `json:"agent_id"`
	Hostname       string    `json:"hostname"`
	ClientID       string    `json:"client_id"`
	ClientName     string    `json:"client_name"`
	SiteID         string    `json:"site_id"`
	SiteName       string    `json:"site_name"`
	Rule           string    `json:"rule"`
	Metric         string    `json:"metric"`
	Severity       string    `json:"severity"`
	State          string    `json:"state"`
	Message        string    `json:"message"`
	Value          float64   `json:"value"`
	OpenedAt       time.Time `json:"opened_at"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`
	ResolvedBy     string    `json:"resolved_by,omitempty"`
	ResolvedValue  *float64  `json:"resolved_value,omitempty"`
	// RemediationJobID is the job of the remediation script the alert's
	// rule started when it opened, "" when none.
	RemediationJobID string `json:"remediation_job_id,omitempty"`
}

// OpenAlert stores a new open alert. It reports false when the agent
// already has an unresolved alert for the rule (one at a time).
func (db *DB) OpenAlert(ctx context.Context, a Alert) (Alert, bool, error) {
	a.ID, a.State = NewID(), AlertOpen
	_, err := db.sql.ExecContext(ctx, `INSERT INTO alerts (id, agent_id, client_id, site_id, rule, metric, severity, state,
		message, value, opened_at) SELECT $1, id, client_id, site_id, $2, $3, $4, 'open', $5, $6, $7 FROM agents WHERE id = $8`,
		a.ID, a.Rule, a.Metric, a.Severity, a.Message, a.Value, ms(a.OpenedAt), a.AgentID)
	if db.dialect.isUniqueViolation(err) {
		return Alert{}, false, nil
	}
	if err != nil {
		return Alert{}, false, fmt.Errorf("open alert %s for %s: %w", a.Rule, a.AgentID, err)
	}
	out, err := db.Alert(ctx, a.ID)
	if errors.Is(err, ErrNotFound) {
		return Alert{}, false, nil // the agent is gone
	}
	return out, err == nil, err
}

// ResolveAlertRule resolves the agent's unresolved alert for a rule, if
// any, and returns it.
func (db *DB) ResolveAlertRule(ctx context.Context, agentID, rule string, at time.Time, value float64, by string) (Alert, bool, error) {
	var id string
	err := db.sql.QueryRowContext(ctx, `SELECT id FROM alerts WHERE agent_id = $1 AND rule = $2 AND state <> 'resolved'`, agentID, rule).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, false, nil
	}
	if err != nil {
		return Alert{}, false, fmt.Errorf("find alert %s of %s: %w", rule, agentID, err)
	}
	return db.resolve(ctx, id, at, &value, by)
}

// ResolveAlert resolves an alert by hand.
func (db *DB) ResolveAlert(ctx context.Context, id, by string) (Alert, bool, error) {
	return db.q().ResolveAlert(ctx, id, by)
}

// ResolveAlert resolves an alert by hand, inside the transaction.
func (t *Tx) ResolveAlert(ctx context.Context, id, by string) (Alert, bool, error) {
	return t.resolve(ctx, id, t.db.now(), nil, by)
}

func (db *DB) resolve(ctx context.Context, id string, at time.Time, value *float64, by string) (Alert, bool, error) {
	return db.q().resolve(ctx, id, at, value, by)
}

func (t *Tx) resolve(ctx context.Context, id string, at time.Time, value *float64, by string) (Alert, bool, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE alerts SET state = 'resolved', resolved_at = $1, resolved_by = $2, resolved_value = $3
		WHERE id = $4 AND state <> 'resolved'`, ms(at), by, value, id)
	if err != nil {
		return Alert{}, false, fmt.Errorf("resolve alert %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	a, err := t.Alert(ctx, id)
	return a, n == 1, err
}

// AcknowledgeAlert marks an open alert acknowledged by someone.
func (db *DB) AcknowledgeAlert(ctx context.Context, id, by string) (Alert, bool, error) {
	return db.q().AcknowledgeAlert(ctx, id, by)
}

// AcknowledgeAlert marks an open alert acknowledged, inside the transaction.
func (t *Tx) AcknowledgeAlert(ctx context.Context, id, by string) (Alert, bool, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE alerts SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2
		WHERE id = $3 AND state = 'open'`, ms(t.db.now()), by, id)
	if err != nil {
		return Alert{}, false, fmt.Errorf("acknowledge alert %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	a, err := t.Alert(ctx, id)
	return a, n == 1, err
}

const alertSelect = `SELECT al.id, al.agent_id, ag.hostname, al.client_id, c.name, al.site_id, s.name, al.rule, al.metric, al.severity, al.state,
	al.message, al.value, al.opened_at, al.acknowledged_at, al.acknowledged_by, al.resolved_at, al.resolved_by, al.resolved_value,
	al.remediation_job_id
	FROM alerts al JOIN agents ag ON ag.id = al.agent_id JOIN clients c ON c.id = al.client_id JOIN sites s ON s.id = al.site_id`

func scanAlert(row interface{ Scan(...any) error }) (Alert, error) {
	var (
		a               Alert
		opened          int64
		acked, resolved sql.NullInt64
		resolvedValue   sql.NullFloat64
	)
	err := row.Scan(&a.ID, &a.AgentID, &a.Hostname, &a.ClientID, &a.ClientName, &a.SiteID, &a.SiteName, &a.Rule, &a.Metric, &a.Severity, &a.State,
		&a.Message, &a.Value, &opened, &acked, &a.AcknowledgedBy, &resolved, &a.ResolvedBy, &resolvedValue, &a.RemediationJobID)
	if err != nil {
		return Alert{}, err
	}
	a.OpenedAt, a.AcknowledgedAt, a.ResolvedAt = fromMS(opened), fromNullMS(acked), fromNullMS(resolved)
	if resolvedValue.Valid {
		v := resolvedValue.Float64
		a.ResolvedValue = &v
	}
	return a, nil
}

// Alert loads one alert.
func (db *DB) Alert(ctx context.Context, id string) (Alert, error) { return db.q().Alert(ctx, id) }

// Alert loads one alert inside the transaction.
func (t *Tx) Alert(ctx context.Context, id string) (Alert, error) {
	a, err := scanAlert(t.q.QueryRowContext(ctx, alertSelect+` WHERE al.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("load alert %s: %w", id, err)
	}
	return a, nil
}

// AlertFilter narrows the alert list; zero values do not filter.
type AlertFilter struct {
	State    string // open, acknowledged, resolved, or "unresolved"
	AgentID  string
	ClientID string
	SiteID   string
	Severity string
	// Query matches the hostname, the rule or the message, ignoring case.
	Query string
}

// ListAlerts returns alerts newest first.
func (db *DB) ListAlerts(ctx context.Context, f AlertFilter, p Page) ([]Alert, int, error) {
	p = p.Normalize()
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	switch f.State {
	case "":
	case "unresolved":
		conds = append(conds, "al.state <> 'resolved'")
	default:
		add("al.state = ?", f.State)
	}
	if f.AgentID != "" {
		add("al.agent_id = ?", f.AgentID)
	}
	if f.ClientID != "" {
		add("al.client_id = ?", f.ClientID)
	}
	if f.SiteID != "" {
		add("al.site_id = ?", f.SiteID)
	}
	if f.Severity != "" {
		add("al.severity = ?", f.Severity)
	}
	from := `SELECT COUNT(*) FROM alerts al`
	if f.Query != "" {
		// The one argument serves the three columns.
		add(`(lower(ag.hostname) LIKE ? ESCAPE '\' OR lower(al.rule) LIKE ? ESCAPE '\' OR lower(al.message) LIKE ? ESCAPE '\')`,
			"%"+escapeLike(strings.ToLower(f.Query))+"%")
		from += ` JOIN agents ag ON ag.id = al.agent_id`
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := db.sql.QueryRowContext(ctx, from+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count alerts: %w", err)
	}
	n := len(args)
	out, err := queryAll(ctx, db.sql, "list alerts", scanAlert, alertSelect+where+fmt.Sprintf(` ORDER BY al.opened_at DESC, al.id DESC LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.Limit, p.Offset)...)
	return out, total, err
}

// UnresolvedRules returns the rules of an agent's unresolved alerts.
func (db *DB) UnresolvedRules(ctx context.Context, agentID string) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT rule FROM alerts WHERE agent_id = $1 AND state <> 'resolved'`, agentID)
	if err != nil {
		return nil, fmt.Errorf("load open alerts of %s: %w", agentID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("load open alerts of %s: %w", agentID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OfflineSince lists agents offline since before cutoff, with their
// tenancy, for the offline alert. Uninstalled agents are gone, not offline.
func (db *DB) OfflineSince(ctx context.Context, cutoff time.Time) ([]Agent, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, client_id, site_id, hostname, last_seen FROM agents
		WHERE NOT online AND last_seen < $1 AND uninstalled_at IS NULL`, ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("list offline agents: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		var (
			a        Agent
			lastSeen int64
		)
		if err := rows.Scan(&a.ID, &a.ClientID, &a.SiteID, &a.Hostname, &lastSeen); err != nil {
			return nil, fmt.Errorf("list offline agents: %w", err)
		}
		a.LastSeen = fromMS(lastSeen)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ResolveOfflineAlertsOfOnlineAgents resolves the offline alerts of
// agents that are online again and returns them, resolved.
func (db *DB) ResolveOfflineAlertsOfOnlineAgents(ctx context.Context) ([]Alert, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT al.id FROM alerts al JOIN agents ag ON ag.id = al.agent_id
		WHERE al.rule = 'offline' AND al.state <> 'resolved' AND ag.online`)
	if err != nil {
		return nil, fmt.Errorf("find offline alerts of online agents: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find offline alerts of online agents: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find offline alerts of online agents: %w", err)
	}
	var out []Alert
	for _, id := range ids {
		// Another replica may resolve it meanwhile: only the one that
		// changed it reports it, so it is announced once.
		a, changed, err := db.resolve(ctx, id, db.now(), nil, "system")
		if err != nil {
			return out, err
		}
		if changed {
			out = append(out, a)
		}
	}
	return out, nil
}

// AlertCounts is how many unresolved alerts there are of each severity.
type AlertCounts map[string]int

// Total is the number of unresolved alerts of any severity.
func (c AlertCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// UnresolvedAlertCounts counts the unresolved alerts of every client (by
// "client") or every site (by "site"), by severity, in one query, for the
// lists that show them beside each row. Targets without any are absent.
func (db *DB) UnresolvedAlertCounts(ctx context.Context, by string) (map[string]AlertCounts, error) {
	var col string
	switch by {
	case LevelClient:
		col = "client_id"
	case LevelSite:
		col = "site_id"
	default:
		return nil, fmt.Errorf("count alerts by %q: must be client or site", by)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+col+`, severity, COUNT(*) FROM alerts
		WHERE state <> 'resolved' GROUP BY `+col+`, severity`)
	if err != nil {
		return nil, fmt.Errorf("count alerts by %s: %w", by, err)
	}
	defer rows.Close()
	out := map[string]AlertCounts{}
	for rows.Next() {
		var (
			id, sev string
			n       int
		)
		if err := rows.Scan(&id, &sev, &n); err != nil {
			return nil, fmt.Errorf("count alerts by %s: %w", by, err)
		}
		if out[id] == nil {
			out[id] = AlertCounts{}
		}
		out[id][sev] = n
	}
	return out, rows.Err()
}

// SetAlertRemediation records the remediation job an alert started.
func (db *DB) SetAlertRemediation(ctx context.Context, alertID, jobID string) error {
	res, err := db.sql.ExecContext(ctx, `UPDATE alerts SET remediation_job_id = $1 WHERE id = $2`, jobID, alertID)
	if err != nil {
		return fmt.Errorf("record the remediation of alert %s: %w", alertID, err)
	}
	return expectOne(res, "alert "+alertID)
}
