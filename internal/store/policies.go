package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DefaultPolicyID is the policy assigned at the default level from the
// first start; it cannot be deleted.
const DefaultPolicyID = "default"

// Policy is a named policy document. Document is the JSON of a
// policy.Document; this package does not interpret it.
type Policy struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Document    json.RawMessage `json:"document"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	// Assignments lists where the policy is assigned.
	Assignments []PolicyAssignment `json:"assignments"`
}

// PolicyAssignment places a policy at a level: default (TargetID empty),
// client, site or agent.
type PolicyAssignment struct {
	Level      string    `json:"level"`
	TargetID   string    `json:"target_id"`
	PolicyID   string    `json:"policy_id"`
	PolicyName string    `json:"policy_name"`
	AssignedBy string    `json:"assigned_by"`
	AssignedAt time.Time `json:"assigned_at"`
}

// Policy levels as stored.
const (
	LevelDefault = "default"
	LevelClient  = "client"
	LevelSite    = "site"
	LevelAgent   = "agent"
)

// ErrInUse means an object is still referenced.
var ErrInUse = errors.New("still in use")

// CreatePolicy stores a new policy.
func (t *Tx) CreatePolicy(ctx context.Context, p Policy) (Policy, error) {
	now := t.db.now()
	p.ID = NewID()
	p.CreatedAt, p.UpdatedAt = fromMS(ms(now)), fromMS(ms(now))
	_, err := t.q.ExecContext(ctx, `INSERT INTO policies (id, name, description, document, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, p.ID, p.Name, p.Description, string(p.Document), ms(now))
	if t.db.dialect.isUniqueViolation(err) {
		return Policy{}, fmt.Errorf("policy %q: %w", p.Name, ErrConflict)
	}
	if err != nil {
		return Policy{}, fmt.Errorf("create policy %q: %w", p.Name, err)
	}
	p.Assignments = []PolicyAssignment{}
	return p, nil
}

// UpdatePolicy replaces a policy's name, description and document.
func (t *Tx) UpdatePolicy(ctx context.Context, p Policy) error {
	res, err := t.q.ExecContext(ctx, `UPDATE policies SET name = $1, description = $2, document = $3, updated_at = $4 WHERE id = $5`,
		p.Name, p.Description, string(p.Document), ms(t.db.now()), p.ID)
	if t.db.dialect.isUniqueViolation(err) {
		return fmt.Errorf("policy %q: %w", p.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update policy %s: %w", p.ID, err)
	}
	return expectOne(res, "policy "+p.ID)
}

// DeletePolicy removes a policy that is not assigned anywhere.
func (t *Tx) DeletePolicy(ctx context.Context, id string) error {
	if id == DefaultPolicyID {
		return fmt.Errorf("the default policy cannot be deleted: %w", ErrInUse)
	}
	var n int
	if err := t.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_assignments WHERE policy_id = $1`, id).Scan(&n); err != nil {
		return fmt.Errorf("count assignments of policy %s: %w", id, err)
	}
	if n > 0 {
		return fmt.Errorf("policy %s is assigned %d times; unassign it first: %w", id, n, ErrInUse)
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM policies WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete policy %s: %w", id, err)
	}
	return expectOne(res, "policy "+id)
}

const policyColumns = `id, name, description, document, created_at, updated_at`

func scanPolicy(row interface{ Scan(...any) error }) (Policy, error) {
	var (
		p                Policy
		doc              string
		created, updated int64
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &doc, &created, &updated); err != nil {
		return Policy{}, err
	}
	p.Document = json.RawMessage(doc)
	p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
	return p, nil
}

// Policy loads a policy with its assignments.
func (db *DB) Policy(ctx context.Context, id string) (Policy, error) {
	p, err := scanPolicy(db.sql.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policies WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Policy{}, fmt.Errorf("policy %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Policy{}, fmt.Errorf("load policy %s: %w", id, err)
	}
	p.Assignments, err = db.listAssignments(ctx, `WHERE a.policy_id = $1`, id)
	return p, err
}

// ListPolicies returns every policy by name, with assignments.
func (db *DB) ListPolicies(ctx context.Context) ([]Policy, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+policyColumns+` FROM policies ORDER BY lower(name)`)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	defer rows.Close()
	out := []Policy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("list policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	all, err := db.listAssignments(ctx, "")
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Assignments = []PolicyAssignment{}
		for _, a := range all {
			if a.PolicyID == out[i].ID {
				out[i].Assignments = append(out[i].Assignments, a)
			}
		}
	}
	return out, nil
}

// ListAssignments returns every assignment.
func (db *DB) ListAssignments(ctx context.Context) ([]PolicyAssignment, error) {
	return db.listAssignments(ctx, "")
}

func (db *DB) listAssignments(ctx context.Context, where string, args ...any) ([]PolicyAssignment, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT a.level, a.target_id, a.policy_id, p.name, a.assigned_by, a.assigned_at
		FROM policy_assignments a JOIN policies p ON p.id = a.policy_id `+where+` ORDER BY a.level, a.target_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list policy assignments: %w", err)
	}
	defer rows.Close()
	out := []PolicyAssignment{}
	for rows.Next() {
		var (
			a  PolicyAssignment
			at int64
		)
		if err := rows.Scan(&a.Level, &a.TargetID, &a.PolicyID, &a.PolicyName, &a.AssignedBy, &at); err != nil {
			return nil, fmt.Errorf("list policy assignments: %w", err)
		}
		a.AssignedAt = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Assign places a policy at a level and target, replacing what was there.
func (t *Tx) Assign(ctx context.Context, a PolicyAssignment) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO policy_assignments (level, target_id, policy_id, assigned_by, assigned_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (level, target_id) DO UPDATE SET policy_id = excluded.policy_id,
			assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at`,
		a.Level, a.TargetID, a.PolicyID, a.AssignedBy, ms(t.db.now()))
	if err != nil {
		return fmt.Errorf("assign policy %s to %s %s: %w", a.PolicyID, a.Level, a.TargetID, err)
	}
	return nil
}

// Unassign removes the policy at a level and target.
func (t *Tx) Unassign(ctx context.Context, level, targetID string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM policy_assignments WHERE level = $1 AND target_id = $2`, level, targetID)
	if err != nil {
		return fmt.Errorf("unassign policy from %s %s: %w", level, targetID, err)
	}
	return expectOne(res, "policy assignment at "+level+" "+targetID)
}

// AgentPolicies returns the policies that apply to an agent, one per level
// at most: its default, client, site and agent assignments.
func (db *DB) AgentPolicies(ctx context.Context, agentID string) ([]PolicyAssignment, []Policy, error) {
	var clientID, siteID string
	err := db.sql.QueryRowContext(ctx, `SELECT client_id, site_id FROM agents WHERE id = $1`, agentID).Scan(&clientID, &siteID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("agent %s: %w", agentID, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load agent %s: %w", agentID, err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT a.level, a.target_id, a.policy_id, p.name, a.assigned_by, a.assigned_at,
		p.id, p.name, p.description, p.document, p.created_at, p.updated_at
		FROM policy_assignments a JOIN policies p ON p.id = a.policy_id
		WHERE (a.level = 'default' AND a.target_id = '') OR (a.level = 'client' AND a.target_id = $1)
		   OR (a.level = 'site' AND a.target_id = $2) OR (a.level = 'agent' AND a.target_id = $3)`, clientID, siteID, agentID)
	if err != nil {
		return nil, nil, fmt.Errorf("load policies of agent %s: %w", agentID, err)
	}
	defer rows.Close()
	var (
		as []PolicyAssignment
		ps []Policy
	)
	for rows.Next() {
		var (
			a                    PolicyAssignment
			p                    Policy
			at, created, updated int64
			doc                  string
		)
		if err := rows.Scan(&a.Level, &a.TargetID, &a.PolicyID, &a.PolicyName, &a.AssignedBy, &at,
			&p.ID, &p.Name, &p.Description, &doc, &created, &updated); err != nil {
			return nil, nil, fmt.Errorf("load policies of agent %s: %w", agentID, err)
		}
		a.AssignedAt = fromMS(at)
		p.Document, p.CreatedAt, p.UpdatedAt = json.RawMessage(doc), fromMS(created), fromMS(updated)
		as, ps = append(as, a), append(ps, p)
	}
	return as, ps, rows.Err()
}

// PolicySnapshot is every assignment and the policies assigned, read in
// one go so that a change resolves each distinct combination once.
type PolicySnapshot struct {
	Assignments []PolicyAssignment
	Policies    map[string]Policy
}

// PolicySnapshot reads every assignment with its policy.
func (db *DB) PolicySnapshot(ctx context.Context) (PolicySnapshot, error) {
	snap := PolicySnapshot{Policies: map[string]Policy{}}
	var err error
	snap.Assignments, err = db.listAssignments(ctx, "")
	if err != nil {
		return PolicySnapshot{}, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+policyColumns+` FROM policies
		WHERE id IN (SELECT policy_id FROM policy_assignments)`)
	if err != nil {
		return PolicySnapshot{}, fmt.Errorf("load assigned policies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return PolicySnapshot{}, fmt.Errorf("load assigned policies: %w", err)
		}
		snap.Policies[p.ID] = p
	}
	return snap, rows.Err()
}

// PolicyScope is a place in the tenancy that holds a policy assignment,
// with the IDs that decide the effective policy there and a name people
// know it by ("Acme", "Acme / HQ", a hostname).
type PolicyScope struct {
	Level, TargetID           string
	ClientID, SiteID, AgentID string
	Name                      string
}

// PolicyScopes lists every assigned scope but the default level, by level
// and target.
func (db *DB) PolicyScopes(ctx context.Context) ([]PolicyScope, error) {
	return queryAll(ctx, db.sql, "list policy scopes", func(r row) (PolicyScope, error) {
		var p PolicyScope
		err := r.Scan(&p.Level, &p.TargetID, &p.ClientID, &p.SiteID, &p.AgentID, &p.Name)
		return p, err
	}, `SELECT a.level, a.target_id,
			COALESCE(c.id, s.client_id, ag.client_id, ''), COALESCE(s.id, ag.site_id, ''), COALESCE(ag.id, ''),
			COALESCE(c.name, sc.name || ' / ' || s.name, ag.hostname, a.target_id)
		FROM policy_assignments a
		LEFT JOIN clients c ON a.level = 'client' AND c.id = a.target_id
		LEFT JOIN sites s ON a.level = 'site' AND s.id = a.target_id
		LEFT JOIN clients sc ON sc.id = s.client_id
		LEFT JOIN agents ag ON a.level = 'agent' AND ag.id = a.target_id
		WHERE a.level <> 'default'
		ORDER BY a.level, a.target_id`)
}
