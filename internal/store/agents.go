package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Agent is an enrolled machine.
type Agent struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	ClientName  string    `json:"client_name"`
	SiteID      string    `json:"site_id"`
	SiteName    string    `json:"site_name"`
	Hostname    string    `json:"hostname"`
	OS          string    `json:"os"`
	OSName      string    `json:"os_name"`
	OSVersion   string    `json:"os_version"`
	Arch        string    `json:"arch"`
	Kernel      string    `json:"kernel"`
	Version     string    `json:"version"`
	BootTime    time.Time `json:"boot_time"`
	IPAddresses []string  `json:"ip_addresses"`
	Users       []string  `json:"users"`
	// Trays are the trays running in users' sessions, as the agent last
	// reported them.
	Trays       []protocol.TrayInfo `json:"trays"`
	EnrolledAt  time.Time           `json:"enrolled_at"`
	LastSeen    time.Time           `json:"last_seen"`
	Online      bool                `json:"online"`
	ConnectedAt time.Time           `json:"connected_at,omitzero"`
	RemoteAddr  string              `json:"remote_addr"`
	// PolicyRevision is the policy revision the agent acknowledged running.
	PolicyRevision  string    `json:"policy_revision"`
	PolicyAppliedAt time.Time `json:"policy_applied_at,omitzero"`
	// Status is StatusOnline, StatusOffline or StatusUninstalled.
	Status string `json:"status"`
	// UninstalledAt is when the agent said it was removed from its
	// machine; its credentials are refused since.
	UninstalledAt   time.Time `json:"uninstalled_at,omitzero"`
	UninstallReason string    `json:"uninstall_reason,omitempty"`
	// Watchdog is the latest report of the agent's watchdog, nil if none.
	Watchdog *WatchdogState `json:"watchdog,omitempty"`
}

// Uninstalled reports whether the agent was removed from its machine.
func (a Agent) Uninstalled() bool { return !a.UninstalledAt.IsZero() }

func (a *Agent) setFacts(f protocol.Facts) {
	a.Hostname, a.OS, a.OSName, a.OSVersion = f.Hostname, f.OS, f.OSName, f.OSVersion
	a.Arch, a.Kernel, a.Version = f.Arch, f.Kernel, f.AgentVersion
	a.BootTime = fromMS(ms(f.BootTime))
	if f.BootTime.IsZero() {
		a.BootTime = time.Time{}
	}
	a.IPAddresses, a.Users = f.IPAddresses, f.Users
	if a.IPAddresses == nil {
		a.IPAddresses = []string{}
	}
	if a.Users == nil {
		a.Users = []string{}
	}
	a.Trays = f.Trays
	if a.Trays == nil {
		a.Trays = []protocol.TrayInfo{}
	}
}

// jsonTrays encodes trays for the trays column.
func jsonTrays(v []protocol.TrayInfo) string {
	if v == nil {
		v = []protocol.TrayInfo{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// parseTrays decodes the trays column; what does not decode reads as none.
func parseTrays(s string) []protocol.TrayInfo {
	var v []protocol.TrayInfo
	if err := json.Unmarshal([]byte(s), &v); err != nil || v == nil {
		return []protocol.TrayInfo{}
	}
	return v
}

const agentSelect = `SELECT a.id, a.client_id, c.name, a.site_id, s.name, a.hostname, a.os, a.os_name, a.os_version,
	a.arch, a.kernel, a.version, a.boot_time, a.ip_addresses, a.users, a.trays, a.enrolled_at, a.last_seen, a.online,
	a.connected_at, a.remote_addr, a.policy_revision, a.policy_applied_at, a.uninstalled_at, a.uninstall_reason, ` + watchdogColumns + `
	FROM agents a JOIN clients c ON c.id = a.client_id JOIN sites s ON s.id = a.site_id
	LEFT JOIN watchdog_reports w ON w.agent_id = a.id`

func scanAgent(row interface{ Scan(...any) error }) (Agent, error) {
	var (
		a                                     Agent
		boot, enrolled, lastSeen, connectedAt int64
		policyApplied                         int64
		uninstalled                           sql.NullInt64
		ips, users, trays                     string
		wd                                    watchdogScan
	)
	err := row.Scan(append([]any{&a.ID, &a.ClientID, &a.ClientName, &a.SiteID, &a.SiteName, &a.Hostname, &a.OS, &a.OSName, &a.OSVersion,
		&a.Arch, &a.Kernel, &a.Version, &boot, &ips, &users, &trays, &enrolled, &lastSeen, &a.Online, &connectedAt, &a.RemoteAddr,
		&a.PolicyRevision, &policyApplied, &uninstalled, &a.UninstallReason}, wd.dest()...)...)
	if err != nil {
		return Agent{}, err
	}
	a.UninstalledAt, a.Watchdog = fromNullMS(uninstalled), wd.report()
	switch {
	case a.Uninstalled():
		a.Status = StatusUninstalled
	case a.Online:
		a.Status = StatusOnline
	default:
		a.Status = StatusOffline
	}
	a.BootTime, a.EnrolledAt, a.LastSeen, a.ConnectedAt = fromMS(boot), fromMS(enrolled), fromMS(lastSeen), fromMS(connectedAt)
	a.IPAddresses, a.Users, a.Trays = parseJSONList(ips), parseJSONList(users), parseTrays(trays)
	a.PolicyAppliedAt = fromMS(policyApplied)
	return a, nil
}

// Agent loads one agent.
func (db *DB) Agent(ctx context.Context, id string) (Agent, error) {
	a, err := scanAgent(db.sql.QueryRowContext(ctx, agentSelect+` WHERE a.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, fmt.Errorf("agent %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("load agent %s: %w", id, err)
	}
	return a, nil
}

// AgentFilter narrows an agent list. Zero values do not filter.
type AgentFilter struct {
	ClientID string
	SiteID   string
	Online   *bool
	// Uninstalled keeps only uninstalled agents (true) or only installed
	// ones (false).
	Uninstalled *bool
	OS          string
	// Query matches hostname, IP addresses and logged-in users, ignoring case.
	Query string
	// PolicyRevision keeps agents that acknowledged this policy revision.
	PolicyRevision string
	// Sort is one of hostname, last_seen, os, client, version; a leading
	// "-" sorts descending.
	Sort string
}

// agentSorts maps a sort name to its ORDER BY terms; "DIR" takes the
// requested direction. Hostname and last-seen sorts tie-break on id in the
// same direction, so one index serves both directions. The others group
// rows (by OS, client, status...) and list each group by hostname.
var agentSorts = map[string]string{
	"hostname":  "lower(a.hostname) DIR, a.id DIR",
	"last_seen": "a.last_seen DIR, a.id DIR",
	"os":        "a.os DIR, a.os_version DIR, lower(a.hostname), a.id",
	"client":    "lower(c.name) DIR, lower(s.name) DIR, lower(a.hostname), a.id",
	"site":      "lower(s.name) DIR, lower(a.hostname), a.id",
	"version":   "a.version DIR, lower(a.hostname), a.id",
	"status":    "a.online DIR, lower(a.hostname), a.id",
}

// ValidAgentSort reports whether s names a sort column.
func ValidAgentSort(s string) bool {
	_, ok := agentSorts[strings.TrimPrefix(s, "-")]
	return s == "" || ok
}

func (f AgentFilter) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.ClientID != "" {
		add("a.client_id = ?", f.ClientID)
	}
	if f.SiteID != "" {
		add("a.site_id = ?", f.SiteID)
	}
	if f.Online != nil {
		add("a.online = ?", *f.Online)
	}
	if f.Uninstalled != nil {
		if *f.Uninstalled {
			conds = append(conds, "a.uninstalled_at IS NOT NULL")
		} else {
			conds = append(conds, "a.uninstalled_at IS NULL")
		}
	}
	if f.OS != "" {
		add("a.os = ?", f.OS)
	}
	if f.PolicyRevision != "" {
		add("a.policy_revision = ?", f.PolicyRevision)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		q = strings.ToLower(q)
		// ip_addresses and users hold JSON arrays, so match the query as
		// JSON spells it inside a string: CORP\bob is stored as CORP\\bob,
		// and a quote in the query must not match the array's own quotes.
		inJSON, _ := json.Marshal(q)
		args = append(args, "%"+escapeLike(q)+"%", "%"+escapeLike(string(inJSON[1:len(inJSON)-1]))+"%")
		h, j := len(args)-1, len(args)
		conds = append(conds, fmt.Sprintf(`(lower(a.hostname) LIKE $%d ESCAPE '\' OR a.ip_addresses LIKE $%d ESCAPE '\' OR lower(a.users) LIKE $%d ESCAPE '\')`, h, j, j))
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ListAgents returns one page of agents matching f and the total matching.
func (db *DB) ListAgents(ctx context.Context, f AgentFilter, p Page) ([]Agent, int, error) {
	p = p.Normalize()
	where, args := f.where()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM agents a`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count agents: %w", err)
	}
	desc := strings.HasPrefix(f.Sort, "-")
	order, ok := agentSorts[strings.TrimPrefix(f.Sort, "-")]
	if !ok {
		order = agentSorts["hostname"]
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	orderBy := " ORDER BY " + strings.ReplaceAll(order, "DIR", dir)
	n := len(args)
	q := agentSelect + where + orderBy + fmt.Sprintf(" LIMIT $%d OFFSET $%d", n+1, n+2)
	out, err := queryAll(ctx, db.sql, "list agents", scanAgent, q, append(args, p.Limit, p.Offset)...)
	return out, total, err
}

// ListAllAgents lists every agent f matches, by hostname, unless there
// are more than max: then it returns none and their number, for the caller
// to refuse. Bulk actions resolve their selection with it.
func (db *DB) ListAllAgents(ctx context.Context, f AgentFilter, max int) ([]Agent, int, error) {
	where, args := f.where()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM agents a`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count agents: %w", err)
	}
	if total > max {
		return nil, total, nil
	}
	orderBy := " ORDER BY " + strings.ReplaceAll(agentSorts["hostname"], "DIR", "ASC")
	out, err := queryAll(ctx, db.sql, "list agents", scanAgent, agentSelect+where+orderBy, args...)
	return out, total, err
}

// AgentCounts are fleet totals.
type AgentCounts struct {
	Total  int `json:"total"`
	Online int `json:"online"`
	// Uninstalled agents are counted in Total, never in Online.
	Uninstalled int `json:"uninstalled"`
}

// CountAgents returns total, online and uninstalled agents.
func (db *DB) CountAgents(ctx context.Context) (AgentCounts, error) {
	var c AgentCounts
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN online THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN uninstalled_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM agents`).Scan(&c.Total, &c.Online, &c.Uninstalled)
	if err != nil {
		return AgentCounts{}, fmt.Errorf("count agents: %w", err)
	}
	return c, nil
}

// AgentSecretHash returns the stored secret hash of an agent.
func (db *DB) AgentSecretHash(ctx context.Context, id string) (string, error) {
	c, err := db.AgentCredential(ctx, id)
	return c.SecretHash, err
}

// AgentCredential is what authenticating an agent's connection needs, in
// one indexed read.
type AgentCredential struct {
	AgentID    string
	ClientID   string
	SiteID     string
	SecretHash string
	// PolicyRevision is the policy revision the agent last acknowledged.
	PolicyRevision string
	// UninstalledAt is set once the agent was uninstalled: its
	// credentials are refused except to say so again.
	UninstalledAt time.Time
}

// AgentCredential loads an agent's secret hash, client and site, and the
// policy revision it last acknowledged.
func (db *DB) AgentCredential(ctx context.Context, id string) (AgentCredential, error) {
	c := AgentCredential{AgentID: id}
	var uninstalled sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT secret_hash, client_id, site_id, policy_revision, uninstalled_at FROM agents WHERE id = $1`, id).
		Scan(&c.SecretHash, &c.ClientID, &c.SiteID, &c.PolicyRevision, &uninstalled)
	c.UninstalledAt = fromNullMS(uninstalled)
	if errors.Is(err, sql.ErrNoRows) {
		return AgentCredential{}, fmt.Errorf("agent %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return AgentCredential{}, fmt.Errorf("load agent %s: %w", id, err)
	}
	return c, nil
}

// Connection records that an agent connected to a replica.
type Connection struct {
	AgentID    string
	ConnID     string
	ReplicaID  string
	RemoteAddr string
	Facts      protocol.Facts
}

// MarkConnected stores an agent's facts and marks it online, held by the
// given replica and connection.
func (db *DB) MarkConnected(ctx context.Context, c Connection) error {
	return db.q().MarkConnected(ctx, c)
}

// MarkConnected marks an agent online inside tx.
func (t *Tx) MarkConnected(ctx context.Context, c Connection) error {
	if err := t.MarkConnectedAll(ctx, []Connection{c}); err != nil {
		return fmt.Errorf("mark agent %s connected: %w", c.AgentID, err)
	}
	return nil
}

// MarkConnectedAll marks several agents online as MarkConnected does, with
// one statement per chunk instead of one per agent: a connect storm's
// batches cost a few round trips. Each agent may appear once. If one is
// unknown it fails with ErrNotFound without saying which; callers retry
// one by one.
func (t *Tx) MarkConnectedAll(ctx context.Context, cs []Connection) error {
	now := ms(t.db.now())
	n := t.db.dialect.rowsPerStatement()
	for start := 0; start < len(cs); start += n {
		chunk := cs[start:min(start+n, len(cs))]
		var sb strings.Builder
		args := []any{now}
		// A CTE with named columns reads the same on SQLite and PostgreSQL;
		// PostgreSQL types untyped parameters as text, hence the casts.
		sb.WriteString(`WITH v (id, hostname, os, os_name, os_version, arch, kernel, version, boot_time, ip_addresses, users,
			trays, remote_addr, replica_id, conn_id) AS (VALUES `)
		for i, c := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			var a Agent
			a.setFacts(c.Facts)
			k := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, CAST($%d AS BIGINT), $%d, $%d, $%d, $%d, $%d, $%d)",
				k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9, k+10, k+11, k+12, k+13, k+14, k+15)
			args = append(args, c.AgentID, a.Hostname, a.OS, a.OSName, a.OSVersion, a.Arch, a.Kernel, a.Version, ms(a.BootTime),
				jsonList(a.IPAddresses), jsonList(a.Users), jsonTrays(a.Trays), c.RemoteAddr, c.ReplicaID, c.ConnID)
		}
		sb.WriteString(`) UPDATE agents SET hostname = v.hostname, os = v.os, os_name = v.os_name, os_version = v.os_version,
			arch = v.arch, kernel = v.kernel, version = v.version, boot_time = v.boot_time, ip_addresses = v.ip_addresses,
			users = v.users, trays = v.trays, online = true, last_seen = $1, connected_at = $1, remote_addr = v.remote_addr,
			replica_id = v.replica_id, conn_id = v.conn_id
			FROM v WHERE agents.id = v.id`)
		res, err := t.q.ExecContext(ctx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("mark %d agents connected: %w", len(chunk), err)
		}
		if got, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("mark %d agents connected: %w", len(chunk), err)
		} else if got != int64(len(chunk)) {
			return fmt.Errorf("mark %d agents connected: %d updated: %w", len(chunk), got, ErrNotFound)
		}
	}
	return nil
}

// UpdateFacts stores changed facts of a connected agent.
func (db *DB) UpdateFacts(ctx context.Context, agentID string, f protocol.Facts) error {
	var a Agent
	a.setFacts(f)
	_, err := db.sql.ExecContext(ctx, `UPDATE agents SET hostname = $1, os = $2, os_name = $3, os_version = $4, arch = $5,
		kernel = $6, version = $7, boot_time = $8, ip_addresses = $9, users = $10, trays = $11, last_seen = $12 WHERE id = $13`,
		a.Hostname, a.OS, a.OSName, a.OSVersion, a.Arch, a.Kernel, a.Version, ms(a.BootTime),
		jsonList(a.IPAddresses), jsonList(a.Users), jsonTrays(a.Trays), ms(db.now()), agentID)
	if err != nil {
		return fmt.Errorf("update facts of agent %s: %w", agentID, err)
	}
	return nil
}

// MarkDisconnected marks an agent offline, but only if connID is still its
// current connection: a newer connection (on this replica or another) must
// not be undone by the older one's cleanup.
func (db *DB) MarkDisconnected(ctx context.Context, agentID, connID string) (bool, error) {
	return db.q().MarkDisconnected(ctx, agentID, connID)
}

// MarkDisconnected marks an agent offline inside tx; see DB.MarkDisconnected.
func (t *Tx) MarkDisconnected(ctx context.Context, agentID, connID string) (bool, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE agents SET online = false, last_seen = $1 WHERE id = $2 AND conn_id = $3`,
		ms(t.db.now()), agentID, connID)
	if err != nil {
		return false, fmt.Errorf("mark agent %s disconnected: %w", agentID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Held names a connection a replica holds now: the agent and the
// connection's ID.
type Held struct {
	AgentID string
	ConnID  string
}

// AssertPresence records that the replica holds the given connections:
// every agent whose current connection is one of them is online with
// last_seen now, even if a sweep marked it offline while this replica could
// not write (a database outage outlasting the offline window). An agent
// whose current connection is another one (it connected again, here or
// elsewhere) is left alone, and so is one the replica no longer holds: a
// departure whose write failed is not kept fresh. It returns the IDs of the
// agents it brought back online. One statement per chunk when every agent
// was online already, which is the common case.
func (db *DB) AssertPresence(ctx context.Context, held []Held) (restored []string, err error) {
	now := ms(db.now())
	// Two parameters a row, not fourteen: five times the usual rows fit.
	n := 5 * db.dialect.rowsPerStatement()
	for start := 0; start < len(held); start += n {
		chunk := held[start:min(start+n, len(held))]
		var sb strings.Builder
		args := []any{now}
		// Column names of their own: RETURNING id must not be ambiguous.
		sb.WriteString(`WITH v (held_id, held_conn) AS (VALUES `)
		for i, h := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "($%d, $%d)", len(args)+1, len(args)+2)
			args = append(args, h.AgentID, h.ConnID)
		}
		sb.WriteString(`) UPDATE agents SET `)
		values := sb.String()
		// A presence batch marking one of these agents offline can lock the
		// same rows in another order; PostgreSQL then aborts one side.
		// Losing that is no failure of the replica's writes: both
		// statements run again.
		var res sql.Result
		err = db.retryConflict(func() (err error) {
			res, err = db.sql.ExecContext(ctx, values+`last_seen = $1 FROM v
			WHERE agents.id = v.held_id AND agents.conn_id = v.held_conn AND agents.online`, args...)
			return err
		})
		if err != nil {
			return restored, fmt.Errorf("touch %d held agents: %w", len(chunk), err)
		}
		if touched, err := res.RowsAffected(); err != nil || touched == int64(len(chunk)) {
			continue
		}
		var ids []string
		err = db.retryConflict(func() (err error) {
			ids, err = queryAll(ctx, db.sql, "restore held agents online", func(r row) (string, error) {
				var id string
				return id, r.Scan(&id)
			}, values+`online = true, last_seen = $1 FROM v
			WHERE agents.id = v.held_id AND agents.conn_id = v.held_conn AND NOT agents.online RETURNING id`, args...)
			return err
		})
		if err != nil {
			return restored, err
		}
		restored = append(restored, ids...)
	}
	return restored, nil
}

// maxConflictRetries bounds how often a statement that lost a deadlock or
// serialization conflict is run again.
const maxConflictRetries = 3

// retryConflict runs do again, up to maxConflictRetries times in all, while
// it fails for losing a deadlock or serialization conflict.
func (db *DB) retryConflict(do func() error) error {
	var err error
	for attempt := 0; attempt < maxConflictRetries; attempt++ {
		if err = do(); err == nil || !db.dialect.isConflict(err) {
			return err
		}
	}
	return err
}

// MarkStaleOffline marks offline every online agent not seen since cutoff,
// for agents whose replica died without saying so. It returns their IDs.
func (db *DB) MarkStaleOffline(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `UPDATE agents SET online = false WHERE online AND last_seen < $1 RETURNING id`, ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("mark stale agents offline: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("mark stale agents offline: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// MarkReplicaOffline marks offline every agent a replica held, used when
// the replica starts (it holds nothing yet) and when it shuts down.
func (db *DB) MarkReplicaOffline(ctx context.Context, replicaID string) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE agents SET online = false, last_seen = $1 WHERE replica_id = $2 AND online`,
		ms(db.now()), replicaID)
	if err != nil {
		return 0, fmt.Errorf("mark agents of replica %s offline: %w", replicaID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// SetPolicyRevision records the policy revision an agent acknowledged.
func (t *Tx) SetPolicyRevision(ctx context.Context, agentID, revision string) error {
	_, err := t.q.ExecContext(ctx, `UPDATE agents SET policy_revision = $1, policy_applied_at = $2 WHERE id = $3`,
		revision, ms(t.db.now()), agentID)
	if err != nil {
		return fmt.Errorf("record policy revision of agent %s: %w", agentID, err)
	}
	return nil
}

// AgentRevision is what decides whether an agent runs its current policy:
// where it sits and the revision it acknowledged.
type AgentRevision struct {
	ID, Hostname, ClientID, SiteID string
	// PolicyRevision is the acknowledged revision; empty before the first.
	PolicyRevision string
}

// AgentRevisions lists every agent's acknowledged policy revision, by
// hostname. It reads only the columns needed to compare against the
// effective revision, so the whole fleet fits in one cheap query.
func (db *DB) AgentRevisions(ctx context.Context) ([]AgentRevision, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, hostname, client_id, site_id, policy_revision FROM agents
		ORDER BY lower(hostname), id`)
	if err != nil {
		return nil, fmt.Errorf("list agent policy revisions: %w", err)
	}
	defer rows.Close()
	var out []AgentRevision
	for rows.Next() {
		var a AgentRevision
		if err := rows.Scan(&a.ID, &a.Hostname, &a.ClientID, &a.SiteID, &a.PolicyRevision); err != nil {
			return nil, fmt.Errorf("list agent policy revisions: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RevisionCount is how many agents under one combination of client, site
// and, for an agent with a policy of its own, agent acknowledged one
// policy revision.
type RevisionCount struct {
	ClientID, SiteID string
	// AgentID is set only for an agent with a policy assigned to it, whose
	// effective policy is its own; others share their site's.
	AgentID        string
	PolicyRevision string
	N              int
}

// AgentRevisionCounts groups the fleet by what decides its effective
// policy and by acknowledged revision, so counting the agents on an older
// revision costs one resolution per group rather than a row per agent.
func (db *DB) AgentRevisionCounts(ctx context.Context) ([]RevisionCount, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT a.client_id, a.site_id, CASE WHEN pa.target_id IS NULL THEN '' ELSE a.id END,
		a.policy_revision, COUNT(*)
		FROM agents a LEFT JOIN policy_assignments pa ON pa.level = 'agent' AND pa.target_id = a.id
		GROUP BY a.client_id, a.site_id, CASE WHEN pa.target_id IS NULL THEN '' ELSE a.id END, a.policy_revision`)
	if err != nil {
		return nil, fmt.Errorf("count agent policy revisions: %w", err)
	}
	defer rows.Close()
	var out []RevisionCount
	for rows.Next() {
		var c RevisionCount
		if err := rows.Scan(&c.ClientID, &c.SiteID, &c.AgentID, &c.PolicyRevision, &c.N); err != nil {
			return nil, fmt.Errorf("count agent policy revisions: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
