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
)

// Script is a script of the library, at its current version.
type Script struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Language    string            `json:"language"`
	Body        string            `json:"body"`
	SHA256      string            `json:"sha256"`
	Args        []string          `json:"args"`
	Env         map[string]string `json:"env"`
	Timeout     time.Duration     `json:"-"`
	TargetOS    string            `json:"target_os"`
	RunAs       string            `json:"run_as"`
	Version     int               `json:"version"`
	CreatedBy   string            `json:"created_by"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedBy   string            `json:"updated_by"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// ScriptVersion is one saved version of a script.
type ScriptVersion struct {
	Script
}

const scriptColumns = `id, name, description, category, language, body, args, env, timeout_ms, target_os, run_as, version,
	created_by, created_at, updated_by, updated_at`

func scanScript(row interface{ Scan(...any) error }) (Script, error) {
	var (
		s                         Script
		args, env                 string
		timeout, created, updated int64
	)
	if err := row.Scan(&s.ID, &s.Name, &s.Description, &s.Category, &s.Language, &s.Body, &args, &env, &timeout,
		&s.TargetOS, &s.RunAs, &s.Version, &s.CreatedBy, &created, &s.UpdatedBy, &updated); err != nil {
		return Script{}, err
	}
	if err := decodeScriptLists(&s, args, env); err != nil {
		return Script{}, err
	}
	s.Timeout, s.CreatedAt, s.UpdatedAt = time.Duration(timeout)*time.Millisecond, fromMS(created), fromMS(updated)
	s.SHA256 = sha256Hex(s.Body)
	return s, nil
}

func decodeScriptLists(s *Script, args, env string) error {
	s.Args, s.Env = []string{}, map[string]string{}
	if err := json.Unmarshal([]byte(args), &s.Args); err != nil {
		return fmt.Errorf("script %s: stored arguments: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(env), &s.Env); err != nil {
		return fmt.Errorf("script %s: stored environment: %w", s.ID, err)
	}
	return nil
}

func encodeScriptLists(s Script) (string, string) {
	if s.Args == nil {
		s.Args = []string{}
	}
	if s.Env == nil {
		s.Env = map[string]string{}
	}
	a, _ := json.Marshal(s.Args)
	e, _ := json.Marshal(s.Env)
	return string(a), string(e)
}

// CreateScript stores a new script as its version 1. s.ID, the times and
// the version are set here.
func (t *Tx) CreateScript(ctx context.Context, s Script) (Script, error) {
	now := fromMS(ms(t.db.now()))
	s.ID, s.Version, s.CreatedAt, s.UpdatedAt, s.UpdatedBy = NewID(), 1, now, now, s.CreatedBy
	args, env := encodeScriptLists(s)
	_, err := t.q.ExecContext(ctx, `INSERT INTO scripts (`+scriptColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		s.ID, s.Name, s.Description, s.Category, s.Language, s.Body, args, env, s.Timeout.Milliseconds(), s.TargetOS, s.RunAs,
		s.Version, s.CreatedBy, ms(now), s.UpdatedBy, ms(now))
	if t.db.dialect.isUniqueViolation(err) {
		return Script{}, fmt.Errorf("script %q: %w", s.Name, ErrConflict)
	}
	if err != nil {
		return Script{}, fmt.Errorf("create script %q: %w", s.Name, err)
	}
	if err := t.addScriptVersion(ctx, s); err != nil {
		return Script{}, err
	}
	s.SHA256 = sha256Hex(s.Body)
	if s.Args == nil {
		s.Args = []string{}
	}
	if s.Env == nil {
		s.Env = map[string]string{}
	}
	return s, nil
}

// UpdateScript saves s over the stored script as a new version, unless
// nothing changed. It returns the script as stored and whether a version
// was added. expectVersion, when not 0, must be the stored version: an
// edit made on an older version is refused with ErrStale.
func (t *Tx) UpdateScript(ctx context.Context, s Script, expectVersion int) (Script, bool, error) {
	cur, err := scanScript(t.q.QueryRowContext(ctx, `SELECT `+scriptColumns+` FROM scripts WHERE id = $1`, s.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return Script{}, false, fmt.Errorf("script %s: %w", s.ID, ErrNotFound)
	}
	if err != nil {
		return Script{}, false, fmt.Errorf("read script %s: %w", s.ID, err)
	}
	if expectVersion != 0 && expectVersion != cur.Version {
		return Script{}, false, fmt.Errorf("script %s is at version %d, the edit was made on %d: %w", s.ID, cur.Version, expectVersion, ErrStale)
	}
	if sameScript(cur, s) {
		return cur, false, nil
	}
	now := fromMS(ms(t.db.now()))
	s.Version, s.CreatedBy, s.CreatedAt, s.UpdatedAt = cur.Version+1, cur.CreatedBy, cur.CreatedAt, now
	args, env := encodeScriptLists(s)
	_, err = t.q.ExecContext(ctx, `UPDATE scripts SET name = $1, description = $2, category = $3, language = $4, body = $5,
		args = $6, env = $7, timeout_ms = $8, target_os = $9, run_as = $10, version = $11, updated_by = $12, updated_at = $13
		WHERE id = $14`, s.Name, s.Description, s.Category, s.Language, s.Body, args, env, s.Timeout.Milliseconds(), s.TargetOS,
		s.RunAs, s.Version, s.UpdatedBy, ms(now), s.ID)
	if t.db.dialect.isUniqueViolation(err) {
		return Script{}, false, fmt.Errorf("script %q: %w", s.Name, ErrConflict)
	}
	if err != nil {
		return Script{}, false, fmt.Errorf("update script %s: %w", s.ID, err)
	}
	if err := t.addScriptVersion(ctx, s); err != nil {
		return Script{}, false, err
	}
	s.SHA256 = sha256Hex(s.Body)
	return s, true, nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ErrStale means a change was made on an older version of an object.
var ErrStale = errors.New("changed since")

func sameScript(a, b Script) bool {
	aa, ae := encodeScriptLists(a)
	ba, be := encodeScriptLists(b)
	return a.Name == b.Name && a.Description == b.Description && a.Category == b.Category && a.Language == b.Language &&
		a.Body == b.Body && aa == ba && ae == be && a.Timeout == b.Timeout && a.TargetOS == b.TargetOS && a.RunAs == b.RunAs
}

func (t *Tx) addScriptVersion(ctx context.Context, s Script) error {
	args, env := encodeScriptLists(s)
	_, err := t.q.ExecContext(ctx, `INSERT INTO script_versions (script_id, version, name, description, category, language, body,
		sha256, args, env, timeout_ms, target_os, run_as, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		s.ID, s.Version, s.Name, s.Description, s.Category, s.Language, s.Body, sha256Hex(s.Body), args, env,
		s.Timeout.Milliseconds(), s.TargetOS, s.RunAs, s.UpdatedBy, ms(s.UpdatedAt))
	if err != nil {
		return fmt.Errorf("record version %d of script %s: %w", s.Version, s.ID, err)
	}
	return nil
}

// DeleteScript deletes a script and its versions; the jobs that ran it
// keep what they sent.
func (t *Tx) DeleteScript(ctx context.Context, id string) (Script, error) {
	s, err := scanScript(t.q.QueryRowContext(ctx, `SELECT `+scriptColumns+` FROM scripts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Script{}, fmt.Errorf("script %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Script{}, fmt.Errorf("read script %s: %w", id, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM script_versions WHERE script_id = $1`, id); err != nil {
		return Script{}, fmt.Errorf("delete versions of script %s: %w", id, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM scripts WHERE id = $1`, id); err != nil {
		return Script{}, fmt.Errorf("delete script %s: %w", id, err)
	}
	return s, nil
}

// GetScript returns a script at its current version.
func (db *DB) GetScript(ctx context.Context, id string) (Script, error) {
	s, err := scanScript(db.sql.QueryRowContext(ctx, `SELECT `+scriptColumns+` FROM scripts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Script{}, fmt.Errorf("script %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Script{}, fmt.Errorf("read script %s: %w", id, err)
	}
	return s, nil
}

// ScriptFilter narrows ListScripts.
type ScriptFilter struct {
	Category string
	Language string
	// Search matches the name or description, case-insensitively.
	Search string
}

// ListScripts lists scripts by name.
func (db *DB) ListScripts(ctx context.Context, f ScriptFilter, p Page) ([]Script, int, error) {
	p = p.Normalize()
	where, args := `WHERE 1 = 1`, []any{}
	if f.Category != "" {
		args = append(args, f.Category)
		where += fmt.Sprintf(` AND category = $%d`, len(args))
	}
	if f.Language != "" {
		args = append(args, f.Language)
		where += fmt.Sprintf(` AND language = $%d`, len(args))
	}
	if f.Search != "" {
		args = append(args, "%"+escapeLike(strings.ToLower(f.Search))+"%")
		where += fmt.Sprintf(` AND (lower(name) LIKE $%d ESCAPE '\' OR lower(description) LIKE $%d ESCAPE '\')`, len(args), len(args))
	}
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM scripts `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count scripts: %w", err)
	}
	args = append(args, p.Limit, p.Offset)
	rows, err := db.sql.QueryContext(ctx, `SELECT `+scriptColumns+` FROM scripts `+where+
		fmt.Sprintf(` ORDER BY LOWER(name), id LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list scripts: %w", err)
	}
	defer rows.Close()
	out := []Script{}
	for rows.Next() {
		s, err := scanScript(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list scripts: %w", err)
		}
		out = append(out, s)
	}
	return out, total, rows.Err()
}

// ScriptVersions lists a script's versions, newest first.
func (db *DB) ScriptVersions(ctx context.Context, id string) ([]ScriptVersion, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT script_id, name, description, category, language, body, args, env, timeout_ms,
		target_os, run_as, version, created_by, created_at, created_by, created_at
		FROM script_versions WHERE script_id = $1 ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("list versions of script %s: %w", id, err)
	}
	defer rows.Close()
	out := []ScriptVersion{}
	for rows.Next() {
		s, err := scanScript(rows)
		if err != nil {
			return nil, fmt.Errorf("list versions of script %s: %w", id, err)
		}
		out = append(out, ScriptVersion{s})
	}
	return out, rows.Err()
}

// GetScriptVersion returns one version of a script.
func (db *DB) GetScriptVersion(ctx context.Context, id string, version int) (ScriptVersion, error) {
	s, err := scanScript(db.sql.QueryRowContext(ctx, `SELECT script_id, name, description, category, language, body, args, env,
		timeout_ms, target_os, run_as, version, created_by, created_at, created_by, created_at
		FROM script_versions WHERE script_id = $1 AND version = $2`, id, version))
	if errors.Is(err, sql.ErrNoRows) {
		return ScriptVersion{}, fmt.Errorf("version %d of script %s: %w", version, id, ErrNotFound)
	}
	if err != nil {
		return ScriptVersion{}, fmt.Errorf("read version %d of script %s: %w", version, id, err)
	}
	return ScriptVersion{s}, nil
}

// ScriptCategories lists the categories the library's scripts use, sorted,
// for the dashboard's filter and the editor's suggestions.
func (db *DB) ScriptCategories(ctx context.Context) ([]string, error) {
	return db.queryStrings(ctx, "list script categories",
		`SELECT DISTINCT category FROM scripts WHERE category <> '' ORDER BY category`)
}
