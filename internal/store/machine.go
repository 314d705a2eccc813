package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Agent statuses as the dashboard and the API show them.
const (
	StatusOnline      = "online"
	StatusOffline     = "offline"
	StatusUninstalled = "uninstalled"
)

// SetStatus narrows f to the agents of a status: online, offline (which
// leaves out uninstalled agents: they are gone, not offline), uninstalled,
// or "" for any. It reports false for any other word.
func (f *AgentFilter) SetStatus(status string) bool {
	yes, no := true, false
	switch status {
	case "":
	case StatusOnline:
		f.Online = &yes
	case StatusOffline:
		f.Online, f.Uninstalled = &no, &no
	case StatusUninstalled:
		f.Uninstalled = &yes
	default:
		return false
	}
	return true
}

// WatchdogState is the latest report of an agent's watchdog.
type WatchdogState struct {
	ReceivedAt time.Time                 `json:"received_at"`
	ReportedAt time.Time                 `json:"reported_at"`
	State      string                    `json:"state"`
	Reason     string                    `json:"reason,omitempty"`
	Since      time.Time                 `json:"since"`
	Restarts   int                       `json:"restarts"`
	Services   []protocol.WatchedService `json:"services"`
	// Version is the version the watchdog runs, "" from older watchdogs.
	Version string `json:"version,omitempty"`
}

// Down reports whether the watchdog says the agent is not working.
func (w *WatchdogState) Down() bool {
	return w != nil && w.State != protocol.AgentRunning
}

// Uninstalled is the outcome of MarkUninstalled.
type Uninstalled struct {
	At time.Time
	// Changed is false when the agent was uninstalled already.
	Changed bool
}

// MarkUninstalled records that an agent was removed from its machine,
// once: a second call leaves the first time and reason.
func (t *Tx) MarkUninstalled(ctx context.Context, agentID, reason string) (Uninstalled, error) {
	now := t.db.now()
	res, err := t.q.ExecContext(ctx, `UPDATE agents SET uninstalled_at = $1, uninstall_reason = $2
		WHERE id = $3 AND uninstalled_at IS NULL`, ms(now), reason, agentID)
	if err != nil {
		return Uninstalled{}, fmt.Errorf("mark agent %s uninstalled: %w", agentID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return Uninstalled{At: fromMS(ms(now)), Changed: true}, nil
	}
	var at sql.NullInt64
	err = t.q.QueryRowContext(ctx, `SELECT uninstalled_at FROM agents WHERE id = $1`, agentID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return Uninstalled{}, fmt.Errorf("agent %s: %w", agentID, ErrNotFound)
	}
	if err != nil {
		return Uninstalled{}, fmt.Errorf("mark agent %s uninstalled: %w", agentID, err)
	}
	return Uninstalled{At: fromNullMS(at)}, nil
}

// ResolveAlertsOfAgent resolves every unresolved alert of an agent, as by,
// and returns them resolved.
func (t *Tx) ResolveAlertsOfAgent(ctx context.Context, agentID, by string) ([]Alert, error) {
	ids, err := queryAll(ctx, t.q, "find alerts of agent "+agentID, func(r row) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT id FROM alerts WHERE agent_id = $1 AND state <> 'resolved'`, agentID)
	if err != nil {
		return nil, err
	}
	var out []Alert
	for _, id := range ids {
		a, changed, err := t.resolve(ctx, id, t.db.now(), nil, by)
		if err != nil {
			return out, err
		}
		if changed {
			out = append(out, a)
		}
	}
	return out, nil
}

// SaveWatchdogReport stores an agent's latest watchdog report, replacing
// the previous one.
func (db *DB) SaveWatchdogReport(ctx context.Context, agentID string, r protocol.WatchdogReport) error {
	services := r.Services
	if services == nil {
		services = []protocol.WatchedService{}
	}
	b, err := json.Marshal(services)
	if err != nil {
		return fmt.Errorf("encode watchdog services: %w", err)
	}
	_, err = db.sql.ExecContext(ctx, `INSERT INTO watchdog_reports (agent_id, received_at, reported_at, agent_state, agent_reason,
		agent_since, restarts, services, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (agent_id) DO UPDATE SET received_at = excluded.received_at, reported_at = excluded.reported_at,
		agent_state = excluded.agent_state, agent_reason = excluded.agent_reason, agent_since = excluded.agent_since,
		restarts = excluded.restarts, services = excluded.services, version = excluded.version`,
		agentID, ms(db.now()), ms(r.At), r.Agent.State, r.Agent.Reason, ms(r.Agent.Since), r.Agent.Restarts, string(b), r.Version)
	if err != nil {
		return fmt.Errorf("store watchdog report of %s: %w", agentID, err)
	}
	return nil
}

// watchdogColumns are read by agentSelect through a LEFT JOIN, so the list
// and the page show the watchdog's word without another query.
const watchdogColumns = `w.received_at, w.reported_at, w.agent_state, w.agent_reason, w.agent_since, w.restarts, w.services, w.version`

// watchdogScan holds the nullable columns of a LEFT JOINed report.
type watchdogScan struct {
	received, reported, since sql.NullInt64
	state, reason, services   sql.NullString
	version                   sql.NullString
	restarts                  sql.NullInt64
}

func (w *watchdogScan) dest() []any {
	return []any{&w.received, &w.reported, &w.state, &w.reason, &w.since, &w.restarts, &w.services, &w.version}
}

func (w *watchdogScan) report() *WatchdogState {
	if !w.received.Valid {
		return nil
	}
	s := &WatchdogState{
		ReceivedAt: fromNullMS(w.received), ReportedAt: fromNullMS(w.reported), State: w.state.String,
		Reason: w.reason.String, Since: fromNullMS(w.since), Restarts: int(w.restarts.Int64), Version: w.version.String,
	}
	if err := json.Unmarshal([]byte(w.services.String), &s.Services); err != nil || s.Services == nil {
		s.Services = []protocol.WatchedService{}
	}
	return s
}

// HelpRequest is a help request a user sent from the tray, as stored.
type HelpRequest struct {
	AgentID    string
	ID         string
	User       string
	Message    string
	AskedAt    time.Time
	ReceivedAt time.Time
	AlertID    string
}

// AddHelpRequest records a help request once per agent and ID. It reports
// false, with the stored request, when it was recorded before: the agent
// sends a request again until it is acknowledged.
func (t *Tx) AddHelpRequest(ctx context.Context, agentID string, h protocol.HelpRequest) (HelpRequest, bool, error) {
	res, err := t.q.ExecContext(ctx, `INSERT INTO help_requests (agent_id, id, os_user, message, asked_at, received_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, id) DO NOTHING`,
		agentID, h.ID, h.User, h.Message, ms(h.At), ms(t.db.now()))
	if err != nil {
		return HelpRequest{}, false, fmt.Errorf("store help request %s of %s: %w", h.ID, agentID, err)
	}
	n, _ := res.RowsAffected()
	out, err := t.helpRequest(ctx, agentID, h.ID)
	return out, n == 1, err
}

func (t *Tx) helpRequest(ctx context.Context, agentID, id string) (HelpRequest, error) {
	h := HelpRequest{AgentID: agentID, ID: id}
	var asked, received int64
	err := t.q.QueryRowContext(ctx, `SELECT os_user, message, asked_at, received_at, alert_id FROM help_requests
		WHERE agent_id = $1 AND id = $2`, agentID, id).Scan(&h.User, &h.Message, &asked, &received, &h.AlertID)
	if errors.Is(err, sql.ErrNoRows) {
		return HelpRequest{}, fmt.Errorf("help request %s of %s: %w", id, agentID, ErrNotFound)
	}
	if err != nil {
		return HelpRequest{}, fmt.Errorf("load help request %s of %s: %w", id, agentID, err)
	}
	h.AskedAt, h.ReceivedAt = fromMS(asked), fromMS(received)
	return h, nil
}

// OpenAlert stores a new open alert inside the transaction; see
// DB.OpenAlert. On PostgreSQL a second unresolved alert of the same rule
// fails the transaction, so callers use rules that cannot collide.
func (t *Tx) OpenAlert(ctx context.Context, a Alert) (Alert, error) {
	a.ID, a.State = NewID(), AlertOpen
	res, err := t.q.ExecContext(ctx, `INSERT INTO alerts (id, agent_id, client_id, site_id, rule, metric, severity, state,
		message, value, opened_at) SELECT $1, id, client_id, site_id, $2, $3, $4, 'open', $5, $6, $7 FROM agents WHERE id = $8`,
		a.ID, a.Rule, a.Metric, a.Severity, a.Message, a.Value, ms(a.OpenedAt), a.AgentID)
	if err != nil {
		return Alert{}, fmt.Errorf("open alert %s for %s: %w", a.Rule, a.AgentID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Alert{}, fmt.Errorf("open alert %s: agent %s: %w", a.Rule, a.AgentID, ErrNotFound)
	}
	return t.Alert(ctx, a.ID)
}

// SetHelpRequestAlert links a help request to its ticket.
func (t *Tx) SetHelpRequestAlert(ctx context.Context, agentID, id, alertID string) error {
	_, err := t.q.ExecContext(ctx, `UPDATE help_requests SET alert_id = $1 WHERE agent_id = $2 AND id = $3`, alertID, agentID, id)
	if err != nil {
		return fmt.Errorf("link help request %s of %s: %w", id, agentID, err)
	}
	return nil
}

// UnresolvedAlertsWithPrefix returns an agent's unresolved alerts whose
// rule starts with prefix ("service:").
func (db *DB) UnresolvedAlertsWithPrefix(ctx context.Context, agentID, prefix string) ([]Alert, error) {
	return queryAll(ctx, db.sql, "list open alerts of "+agentID, scanAlert,
		alertSelect+` WHERE al.agent_id = $1 AND al.state <> 'resolved' AND substr(al.rule, 1, $2) = $3`,
		agentID, len(prefix), prefix)
}

// DeleteAgent removes an agent and everything of it (its alerts, samples,
// inventory and history go with it by cascade).
// Samples, rollups and agent-level assignments and windows name the agent
// without a foreign key and are deleted here.
func (t *Tx) DeleteAgent(ctx context.Context, agentID string) error {
	for _, q := range []string{
		`DELETE FROM samples WHERE agent_id = $1`,
		`DELETE FROM sample_rollups WHERE agent_id = $1`,
		`DELETE FROM policy_assignments WHERE level = 'agent' AND target_id = $1`,
		`DELETE FROM maintenance_windows WHERE level = 'agent' AND target_id = $1`,
	} {
		if _, err := t.q.ExecContext(ctx, q, agentID); err != nil {
			return fmt.Errorf("delete agent %s: %w", agentID, err)
		}
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM agents WHERE id = $1`, agentID)
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", agentID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("agent %s: %w", agentID, ErrNotFound)
	}
	return nil
}
