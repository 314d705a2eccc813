package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// InventorySnapshot is an agent's latest inventory report, without its
// software list (see AgentSoftware).
type InventorySnapshot struct {
	AgentID       string            `json:"agent_id"`
	CollectedAt   time.Time         `json:"collected_at"`
	ReceivedAt    time.Time         `json:"received_at"`
	Reason        string            `json:"reason"`
	Hardware      protocol.Hardware `json:"hardware"`
	OS            protocol.OSInfo   `json:"os"`
	Errors        []string          `json:"errors"`
	SoftwareCount int               `json:"software_count"`
	// SoftwareHash digests the stored software rows (see the inventory
	// package); an upload with the same digest changed no software.
	SoftwareHash string `json:"-"`
}

// SoftwareTitle is one distinct program version across the fleet.
type SoftwareTitle struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Publisher string `json:"publisher"`
}

// TitleID derives a title's id from its fields, so that every replica
// names the same title alike and an upload needs no read to find it.
func TitleID(name, version, publisher string) string {
	h := sha256.Sum256([]byte(name + "\x00" + version + "\x00" + publisher))
	return hex.EncodeToString(h[:16])
}

// InstalledSoftware is one title installed on an agent, found in one
// source.
type InstalledSoftware struct {
	TitleID   string `json:"title_id"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Publisher string `json:"publisher"`
	Source    string `json:"source"`
	// InstallDate is YYYY-MM-DD, or empty when the source records none.
	InstallDate string `json:"install_date"`
}

// InventoryChange is one entry of an agent's inventory history.
type InventoryChange struct {
	ID      string    `json:"id"`
	AgentID string    `json:"agent_id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	// Subject names what changed: a program, a disk, "memory", "os"...
	Subject string `json:"subject"`
	// Source is the software source for software changes, else empty.
	Source   string `json:"source"`
	OldValue string `json:"old_value"`
	NewValue string `json:"new_value"`
}

// LockInventory serialises inventory writes for one agent until tx ends,
// so two uploads from the same agent cannot both diff against the same
// stored report.
func (t *Tx) LockInventory(ctx context.Context, agentID string) error {
	return t.db.dialect.lockKey(ctx, t.q, "inventory:"+agentID)
}

// InventorySnapshot loads an agent's latest report; ErrNotFound when it
// never sent one.
func (db *DB) InventorySnapshot(ctx context.Context, agentID string) (InventorySnapshot, error) {
	return db.q().InventorySnapshot(ctx, agentID)
}

// InventorySnapshot loads an agent's latest report inside tx.
func (t *Tx) InventorySnapshot(ctx context.Context, agentID string) (InventorySnapshot, error) {
	var (
		s                 InventorySnapshot
		collected, recv   int64
		hw, osInfo, errsJ string
	)
	err := t.q.QueryRowContext(ctx, `SELECT agent_id, collected_at, received_at, reason, hardware, os, errors, software_count, software_hash
		FROM agent_inventory WHERE agent_id = $1`, agentID).
		Scan(&s.AgentID, &collected, &recv, &s.Reason, &hw, &osInfo, &errsJ, &s.SoftwareCount, &s.SoftwareHash)
	if errors.Is(err, sql.ErrNoRows) {
		return InventorySnapshot{}, fmt.Errorf("inventory of agent %s: %w", agentID, ErrNotFound)
	}
	if err != nil {
		return InventorySnapshot{}, fmt.Errorf("load inventory of agent %s: %w", agentID, err)
	}
	s.CollectedAt, s.ReceivedAt = fromMS(collected), fromMS(recv)
	for _, f := range []struct {
		raw string
		v   any
	}{{hw, &s.Hardware}, {osInfo, &s.OS}, {errsJ, &s.Errors}} {
		if err := json.Unmarshal([]byte(f.raw), f.v); err != nil {
			return InventorySnapshot{}, fmt.Errorf("load inventory of agent %s: %w", agentID, err)
		}
	}
	if s.Errors == nil {
		s.Errors = []string{}
	}
	return s, nil
}

// PutInventorySnapshot stores an agent's latest report, replacing the
// previous one.
func (t *Tx) PutInventorySnapshot(ctx context.Context, s InventorySnapshot) error {
	hw, err := json.Marshal(s.Hardware)
	if err != nil {
		return fmt.Errorf("store inventory of agent %s: %w", s.AgentID, err)
	}
	osInfo, err := json.Marshal(s.OS)
	if err != nil {
		return fmt.Errorf("store inventory of agent %s: %w", s.AgentID, err)
	}
	if s.Errors == nil {
		s.Errors = []string{}
	}
	errsJ, err := json.Marshal(s.Errors)
	if err != nil {
		return fmt.Errorf("store inventory of agent %s: %w", s.AgentID, err)
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO agent_inventory
		(agent_id, collected_at, received_at, reason, hardware, os, errors, software_count, software_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (agent_id) DO UPDATE SET collected_at = excluded.collected_at, received_at = excluded.received_at,
			reason = excluded.reason, hardware = excluded.hardware, os = excluded.os, errors = excluded.errors,
			software_count = excluded.software_count, software_hash = excluded.software_hash`,
		s.AgentID, ms(s.CollectedAt), ms(s.ReceivedAt), s.Reason, string(hw), string(osInfo), string(errsJ), s.SoftwareCount, s.SoftwareHash)
	if err != nil {
		return fmt.Errorf("store inventory of agent %s: %w", s.AgentID, err)
	}
	return nil
}

// AgentSoftware lists an agent's software sorted by name, version and
// source. A non-empty query keeps names containing it, ignoring case.
func (db *DB) AgentSoftware(ctx context.Context, agentID, query string) ([]InstalledSoftware, error) {
	return db.q().AgentSoftware(ctx, agentID, query)
}

// AgentSoftware lists an agent's software inside tx.
func (t *Tx) AgentSoftware(ctx context.Context, agentID, query string) ([]InstalledSoftware, error) {
	q := `SELECT t.id, t.name, t.version, t.publisher, x.source, x.install_date
		FROM agent_software x JOIN software_titles t ON t.id = x.title_id WHERE x.agent_id = $1`
	args := []any{agentID}
	if query = strings.TrimSpace(query); query != "" {
		q += ` AND t.name_key LIKE $2 ESCAPE '\'`
		args = append(args, "%"+escapeLike(strings.ToLower(query))+"%")
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY t.name_key, t.name, t.version, x.source`, args...)
	if err != nil {
		return nil, fmt.Errorf("list software of agent %s: %w", agentID, err)
	}
	defer rows.Close()
	out := []InstalledSoftware{}
	for rows.Next() {
		var s InstalledSoftware
		if err := rows.Scan(&s.TitleID, &s.Name, &s.Version, &s.Publisher, &s.Source, &s.InstallDate); err != nil {
			return nil, fmt.Errorf("list software of agent %s: %w", agentID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list software of agent %s: %w", agentID, err)
	}
	return out, nil
}

// insertRows runs one multi-row statement per chunk of rows of cols
// values each: head, then "($1, ..)" per row, then tail. A chunk holds
// about twice rowsPerStatement parameters: SQLite's parameter lookup
// grows with the square of their number, and a report's 3,000 programs
// were stored fastest at that size.
func (t *Tx) insertRows(ctx context.Context, head, tail string, cols, n int, row func(i int) []any) error {
	per := max(1, t.db.dialect.rowsPerStatement()*2/cols)
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		var (
			sb   strings.Builder
			args = make([]any, 0, cols*(end-start))
		)
		sb.WriteString(head)
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := range cols {
				if c > 0 {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "$%d", len(args)+c+1)
			}
			sb.WriteByte(')')
			args = append(args, row(i)...)
		}
		sb.WriteString(tail)
		if _, err := t.q.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// AddSoftwareTitles stores titles not stored yet.
func (t *Tx) AddSoftwareTitles(ctx context.Context, titles []SoftwareTitle) error {
	err := t.insertRows(ctx, `INSERT INTO software_titles (id, name, name_key, version, publisher) VALUES `,
		` ON CONFLICT (id) DO NOTHING`, 5, len(titles), func(i int) []any {
			s := titles[i]
			return []any{s.ID, s.Name, strings.ToLower(s.Name), s.Version, s.Publisher}
		})
	if err != nil {
		return fmt.Errorf("add software titles: %w", err)
	}
	return nil
}

// AddAgentSoftware records software installed on an agent. Its titles
// must be stored (AddSoftwareTitles).
func (t *Tx) AddAgentSoftware(ctx context.Context, agentID string, rows []InstalledSoftware) error {
	err := t.insertRows(ctx, `INSERT INTO agent_software (agent_id, title_id, source, install_date) VALUES `, ``,
		4, len(rows), func(i int) []any {
			return []any{agentID, rows[i].TitleID, rows[i].Source, rows[i].InstallDate}
		})
	if err != nil {
		return fmt.Errorf("add software of agent %s: %w", agentID, err)
	}
	return nil
}

// RemoveAgentSoftware deletes an agent's rows with the given title and
// source.
func (t *Tx) RemoveAgentSoftware(ctx context.Context, agentID string, rows []InstalledSoftware) error {
	n := t.db.dialect.rowsPerStatement() // two parameters a row: see insertRows
	for start := 0; start < len(rows); start += n {
		chunk := rows[start:min(start+n, len(rows))]
		args := make([]any, 1, 1+2*len(chunk))
		args[0] = agentID
		ph := make([]string, len(chunk))
		for i, r := range chunk {
			ph[i] = fmt.Sprintf("($%d, $%d)", len(args)+1, len(args)+2)
			args = append(args, r.TitleID, r.Source)
		}
		_, err := t.q.ExecContext(ctx, `DELETE FROM agent_software WHERE agent_id = $1 AND (title_id, source) IN (VALUES `+
			strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return fmt.Errorf("remove software of agent %s: %w", agentID, err)
		}
	}
	return nil
}

// AddInventoryChanges appends entries to agents' inventory histories.
func (t *Tx) AddInventoryChanges(ctx context.Context, changes []InventoryChange) error {
	err := t.insertRows(ctx, `INSERT INTO inventory_changes (id, agent_id, at, kind, subject, source, old_value, new_value) VALUES `, ``,
		8, len(changes), func(i int) []any {
			c := changes[i]
			return []any{c.ID, c.AgentID, ms(c.At), c.Kind, c.Subject, c.Source, c.OldValue, c.NewValue}
		})
	if err != nil {
		return fmt.Errorf("add inventory changes: %w", err)
	}
	return nil
}

// InventoryChanges returns one page of an agent's inventory history,
// newest report first, and the total; a non-empty kind keeps only that
// kind. The changes of one report share a time and keep the order they
// were recorded in (ids are time-ordered).
func (db *DB) InventoryChanges(ctx context.Context, agentID, kind string, p Page) ([]InventoryChange, int, error) {
	p = p.Normalize()
	where, args := ` WHERE agent_id = $1`, []any{agentID}
	if kind != "" {
		where += ` AND kind = $2`
		args = append(args, kind)
	}
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM inventory_changes`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count inventory changes of agent %s: %w", agentID, err)
	}
	n := len(args)
	rows, err := db.sql.QueryContext(ctx, `SELECT id, agent_id, at, kind, subject, source, old_value, new_value
		FROM inventory_changes`+where+fmt.Sprintf(` ORDER BY at DESC, id LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list inventory changes of agent %s: %w", agentID, err)
	}
	defer rows.Close()
	out := []InventoryChange{}
	for rows.Next() {
		var (
			c  InventoryChange
			at int64
		)
		if err := rows.Scan(&c.ID, &c.AgentID, &at, &c.Kind, &c.Subject, &c.Source, &c.OldValue, &c.NewValue); err != nil {
			return nil, 0, fmt.Errorf("list inventory changes of agent %s: %w", agentID, err)
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list inventory changes of agent %s: %w", agentID, err)
	}
	return out, total, nil
}

// DeleteInventoryChangesBefore removes history entries older than cutoff
// and returns how many it removed.
func (db *DB) DeleteInventoryChangesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := db.deleteBefore(ctx, "inventory_changes", "at", cutoff)
	if err != nil {
		return n, fmt.Errorf("prune inventory changes: %w", err)
	}
	return n, nil
}

// SoftwareFilter selects installed software across the fleet.
type SoftwareFilter struct {
	// Name matches titles whose name contains it, ignoring case.
	Name string
	// Version, when set, must equal the title's version.
	Version string
	// TitleID, when set, selects one title.
	TitleID  string
	ClientID string
}

func (f SoftwareFilter) where() (string, []any) {
	var (
		conds = []string{"x.title_id = t.id", "a.id = x.agent_id"}
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if q := strings.TrimSpace(f.Name); q != "" {
		add(`t.name_key LIKE $%d ESCAPE '\'`, "%"+escapeLike(strings.ToLower(q))+"%")
	}
	if f.Version != "" {
		add(`t.version = $%d`, f.Version)
	}
	if f.TitleID != "" {
		add(`t.id = $%d`, f.TitleID)
	}
	if f.ClientID != "" {
		add(`a.client_id = $%d`, f.ClientID)
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// SoftwareInstall is one installation of a title on an agent.
type SoftwareInstall struct {
	AgentID    string `json:"agent_id"`
	Hostname   string `json:"hostname"`
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	SiteID     string `json:"site_id"`
	SiteName   string `json:"site_name"`
	Online     bool   `json:"online"`
	InstalledSoftware
}

// softwareFrom starts from the titles: SQLite (without statistics) would
// otherwise scan every agent's software rows, and CROSS JOIN is how it is
// told the order. PostgreSQL plans it as an inner join; the join
// conditions are in SoftwareFilter.where.
const softwareFrom = ` FROM software_titles t CROSS JOIN agent_software x CROSS JOIN agents a`

// SearchSoftware returns one page of installations matching f, sorted by
// title then hostname, and the total.
func (db *DB) SearchSoftware(ctx context.Context, f SoftwareFilter, p Page) ([]SoftwareInstall, int, error) {
	p = p.Normalize()
	where, args := f.where()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*)`+softwareFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count software installations: %w", err)
	}
	n := len(args)
	rows, err := db.sql.QueryContext(ctx, `SELECT a.id, a.hostname, a.client_id, c.name, a.site_id, s.name, a.online,
		t.id, t.name, t.version, t.publisher, x.source, x.install_date`+softwareFrom+`
		JOIN clients c ON c.id = a.client_id JOIN sites s ON s.id = a.site_id`+where+
		fmt.Sprintf(` ORDER BY t.name_key, t.name, t.version, t.publisher, lower(a.hostname), a.id, x.source LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("search software: %w", err)
	}
	defer rows.Close()
	out := []SoftwareInstall{}
	for rows.Next() {
		var s SoftwareInstall
		if err := rows.Scan(&s.AgentID, &s.Hostname, &s.ClientID, &s.ClientName, &s.SiteID, &s.SiteName, &s.Online,
			&s.TitleID, &s.Name, &s.Version, &s.Publisher, &s.Source, &s.InstallDate); err != nil {
			return nil, 0, fmt.Errorf("search software: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("search software: %w", err)
	}
	return out, total, nil
}

// TitleCount is a title with the number of agents that have it.
type TitleCount struct {
	SoftwareTitle
	Agents int `json:"agents"`
}

// SoftwareTitles returns one page of titles matching f that at least one
// agent has, with their agent counts, sorted by name and version, and the
// total.
func (db *DB) SoftwareTitles(ctx context.Context, f SoftwareFilter, p Page) ([]TitleCount, int, error) {
	p = p.Normalize()
	where, args := f.where()
	// Grouped by x.title_id (equal to t.id) in the order of the page:
	// with t.id, SQLite walks all titles through their primary key index
	// instead of scanning the table once.
	grouped := `SELECT x.title_id, t.name, t.name_key, t.version, t.publisher, COUNT(DISTINCT x.agent_id) AS agents` +
		softwareFrom + where + ` GROUP BY t.name_key, t.name, t.version, t.publisher, x.title_id`
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(DISTINCT x.title_id)`+softwareFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count software titles: %w", err)
	}
	n := len(args)
	rows, err := db.sql.QueryContext(ctx, grouped+fmt.Sprintf(` ORDER BY t.name_key, t.name, t.version, t.publisher, x.title_id LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list software titles: %w", err)
	}
	defer rows.Close()
	out := []TitleCount{}
	for rows.Next() {
		var (
			c   TitleCount
			key string
		)
		if err := rows.Scan(&c.ID, &c.Name, &key, &c.Version, &c.Publisher, &c.Agents); err != nil {
			return nil, 0, fmt.Errorf("list software titles: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list software titles: %w", err)
	}
	return out, total, nil
}
