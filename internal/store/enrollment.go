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

// EnrollmentToken lets agents join one site. Only its hash is stored.
type EnrollmentToken struct {
	ID        string    `json:"id"`
	SiteID    string    `json:"site_id"`
	Prefix    string    `json:"prefix"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses"`
	Uses      int       `json:"uses"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// State describes whether the token can still enroll agents.
func (t EnrollmentToken) State(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "used up"
	}
	return "active"
}

// Enrollment failures, each a precise reason for the agent.
var (
	ErrTokenUnknown = errors.New("unknown enrollment token")
	ErrTokenExpired = errors.New("enrollment token has expired")
	ErrTokenRevoked = errors.New("enrollment token has been revoked")
	ErrTokenUsedUp  = errors.New("enrollment token has reached its maximum number of uses")
)

// CreateEnrollmentToken stores a token hash for a site.
func (db *DB) CreateEnrollmentToken(ctx context.Context, tok EnrollmentToken, tokenHash string) (EnrollmentToken, error) {
	var out EnrollmentToken
	err := db.WithTx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.CreateEnrollmentToken(ctx, tok, tokenHash)
		return err
	})
	return out, err
}

// CreateEnrollmentToken stores a token hash for a site inside tx.
func (t *Tx) CreateEnrollmentToken(ctx context.Context, tok EnrollmentToken, tokenHash string) (EnrollmentToken, error) {
	tok.ID = NewID()
	tok.CreatedAt = fromMS(ms(t.db.now()))
	tok.ExpiresAt = fromMS(ms(tok.ExpiresAt))
	var one int
	err := t.q.QueryRowContext(ctx, `SELECT 1 FROM sites WHERE id = $1`, tok.SiteID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return EnrollmentToken{}, fmt.Errorf("site %s: %w", tok.SiteID, ErrNotFound)
	}
	if err != nil {
		return EnrollmentToken{}, fmt.Errorf("load site %s: %w", tok.SiteID, err)
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO enrollment_tokens
		(id, site_id, token_hash, prefix, created_by, created_at, expires_at, max_uses, uses)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)`,
		tok.ID, tok.SiteID, tokenHash, tok.Prefix, tok.CreatedBy, ms(tok.CreatedAt), ms(tok.ExpiresAt), tok.MaxUses)
	if err != nil {
		return EnrollmentToken{}, fmt.Errorf("create enrollment token: %w", err)
	}
	return tok, nil
}

const tokenColumns = `id, site_id, prefix, created_by, created_at, expires_at, max_uses, uses, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (EnrollmentToken, error) {
	var (
		t                EnrollmentToken
		created, expires int64
		revoked          sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.SiteID, &t.Prefix, &t.CreatedBy, &created, &expires, &t.MaxUses, &t.Uses, &revoked); err != nil {
		return EnrollmentToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMS(created), fromMS(expires), fromNullMS(revoked)
	return t, nil
}

// ListEnrollmentTokens returns a site's tokens, newest first.
func (db *DB) ListEnrollmentTokens(ctx context.Context, siteID string) ([]EnrollmentToken, error) {
	return queryAll(ctx, db.sql, "list enrollment tokens", scanToken, `SELECT `+tokenColumns+` FROM enrollment_tokens WHERE site_id = $1 ORDER BY created_at DESC`, siteID)
}

// EnrollmentToken loads one token by ID.
func (db *DB) EnrollmentToken(ctx context.Context, id string) (EnrollmentToken, error) {
	t, err := scanToken(db.sql.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM enrollment_tokens WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return EnrollmentToken{}, fmt.Errorf("enrollment token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return EnrollmentToken{}, fmt.Errorf("load enrollment token %s: %w", id, err)
	}
	return t, nil
}

// RevokeEnrollmentToken stops a token from enrolling further agents.
func (db *DB) RevokeEnrollmentToken(ctx context.Context, id string) error {
	return db.q().RevokeEnrollmentToken(ctx, id)
}

// RevokeEnrollmentToken stops a token from enrolling further agents.
func (t *Tx) RevokeEnrollmentToken(ctx context.Context, id string) error {
	res, err := t.q.ExecContext(ctx, `UPDATE enrollment_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms(t.db.now()), id)
	if err != nil {
		return fmt.Errorf("revoke enrollment token %s: %w", id, err)
	}
	return expectOne(res, "enrollment token "+id)
}

// NewAgent is what enrollment records about a machine.
type NewAgent struct {
	SecretHash string
	Facts      protocol.Facts
	// IP is the address enrollment came from, for the audit log.
	IP string
}

// Enroll consumes one use of the token with this hash and creates the
// agent in the token's site, atomically: a token with one use left enrolls
// exactly one agent however many machines race for it.
func (db *DB) Enroll(ctx context.Context, tokenHash string, na NewAgent) (Agent, error) {
	var a Agent
	err := db.WithTx(ctx, func(tx *Tx) error {
		tok, err := scanToken(tx.q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM enrollment_tokens WHERE token_hash = $1`, tokenHash))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenUnknown
		}
		if err != nil {
			return fmt.Errorf("load enrollment token: %w", err)
		}
		now := db.now()
		switch tok.State(now) {
		case "revoked":
			return ErrTokenRevoked
		case "expired":
			return ErrTokenExpired
		case "used up":
			return ErrTokenUsedUp
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE enrollment_tokens SET uses = uses + 1
			WHERE id = $1 AND revoked_at IS NULL AND (max_uses = 0 OR uses < max_uses)`, tok.ID)
		if err != nil {
			return fmt.Errorf("use enrollment token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrTokenUsedUp
		}
		var clientID string
		if err := tx.q.QueryRowContext(ctx, `SELECT client_id FROM sites WHERE id = $1`, tok.SiteID).Scan(&clientID); err != nil {
			return fmt.Errorf("load site of enrollment token: %w", err)
		}
		ips, users := jsonList(na.Facts.IPAddresses), jsonList(na.Facts.Users)
		a = Agent{ID: NewID(), ClientID: clientID, SiteID: tok.SiteID, EnrolledAt: fromMS(ms(now)), LastSeen: fromMS(ms(now)),
			Status: StatusOffline}
		a.setFacts(na.Facts)
		_, err = tx.q.ExecContext(ctx, `INSERT INTO agents (id, client_id, site_id, secret_hash, hostname, os, os_name, os_version,
			arch, kernel, version, boot_time, ip_addresses, users, trays, enrolled_at, last_seen, online)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, false)`,
			a.ID, a.ClientID, a.SiteID, na.SecretHash, a.Hostname, a.OS, a.OSName, a.OSVersion,
			a.Arch, a.Kernel, a.Version, ms(a.BootTime), ips, users, jsonTrays(a.Trays), ms(now))
		if err != nil {
			return fmt.Errorf("create agent: %w", err)
		}
		return tx.AddAudit(ctx, AuditEntry{
			At: now, ActorType: "agent", ActorID: a.ID, ActorName: a.Hostname,
			Action: "agent.enroll", TargetType: "agent", TargetID: a.ID, IP: na.IP,
			Detail: map[string]string{"site_id": a.SiteID, "enrollment_token": tok.Prefix, "os": a.OS},
		})
	})
	return a, err
}

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseJSONList(s string) []string {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil || v == nil {
		return []string{}
	}
	return v
}
