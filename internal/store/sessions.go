package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a logged-in dashboard session. The cookie carries a random ID;
// the database keeps only its hash.
type Session struct {
	IDHash    string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	IP        string
	UserAgent string
}

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	return db.q().CreateSession(ctx, s)
}

// CreateSession stores a new session inside tx, with what records it.
func (t *Tx) CreateSession(ctx context.Context, s Session) error {
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO sessions (id_hash, user_id, created_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.IDHash, s.UserID, ms(s.CreatedAt), ms(s.ExpiresAt), s.IP, s.UserAgent)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionUser returns the user of an unexpired session.
func (db *DB) SessionUser(ctx context.Context, idHash string) (User, Session, error) {
	var (
		s                Session
		created, expires int64
	)
	row := db.sql.QueryRowContext(ctx, `SELECT s.id_hash, s.user_id, s.created_at, s.expires_at, s.ip, s.user_agent,
		u.id, u.email, u.password_hash, u.role, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > $2`, idHash, ms(db.now()))
	var (
		u        User
		role     string
		uCreated int64
	)
	err := row.Scan(&s.IDHash, &s.UserID, &created, &expires, &s.IP, &s.UserAgent,
		&u.ID, &u.Email, &u.PasswordHash, &role, &uCreated)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, Session{}, fmt.Errorf("load session: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = fromMS(created), fromMS(expires)
	u.Role, u.CreatedAt = Role(role), fromMS(uCreated)
	return u, s, nil
}

// DeleteSession removes a session (logout).
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions prunes sessions past their expiry.
func (db *DB) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, ms(db.now()))
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// APIToken is a named bearer token belonging to a user.
type APIToken struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

// CreateAPIToken stores the hash of a new API token.
func (db *DB) CreateAPIToken(ctx context.Context, userID, name, tokenHash string) (APIToken, error) {
	return db.q().CreateAPIToken(ctx, userID, name, tokenHash)
}

// CreateAPIToken stores the hash of a new API token inside tx.
func (t *Tx) CreateAPIToken(ctx context.Context, userID, name, tokenHash string) (APIToken, error) {
	now := t.db.now()
	tok := APIToken{ID: NewID(), UserID: userID, Name: name, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		tok.ID, userID, name, tokenHash, ms(now))
	if err != nil {
		return APIToken{}, fmt.Errorf("create api token: %w", err)
	}
	return tok, nil
}

// APITokenUser returns the user owning the token with this hash and marks
// the token used.
func (db *DB) APITokenUser(ctx context.Context, tokenHash string) (User, APIToken, error) {
	var (
		t        APIToken
		tCreated int64
		lastUsed sql.NullInt64
		u        User
		role     string
		uCreated int64
	)
	err := db.sql.QueryRowContext(ctx, `SELECT t.id, t.user_id, t.name, t.created_at, t.last_used_at,
		u.id, u.email, u.password_hash, u.role, u.created_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`, tokenHash).
		Scan(&t.ID, &t.UserID, &t.Name, &tCreated, &lastUsed, &u.ID, &u.Email, &u.PasswordHash, &role, &uCreated)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, APIToken{}, fmt.Errorf("api token: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, APIToken{}, fmt.Errorf("load api token: %w", err)
	}
	t.CreatedAt, t.LastUsedAt = fromMS(tCreated), fromNullMS(lastUsed)
	u.Role, u.CreatedAt = Role(role), fromMS(uCreated)
	// Record use at most once a minute so a busy integration does not turn
	// every read into a write.
	now := db.now()
	if now.Sub(t.LastUsedAt) > time.Minute {
		if _, err := db.sql.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, ms(now), t.ID); err != nil {
			return User{}, APIToken{}, fmt.Errorf("mark api token used: %w", err)
		}
	}
	return u, t, nil
}
