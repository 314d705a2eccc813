package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SMTP connection security.
const (
	SMTPStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587)
	SMTPTLS      = "tls"      // TLS from the first byte (port 465)
	SMTPNone     = "none"     // no encryption: only for a relay on the same host
)

// SMTPSettings is the mail relay the server sends notification email
// through. Password is needed in clear for SMTP AUTH; it must never leave
// the server.
type SMTPSettings struct {
	Host     string
	Port     int
	Security string // SMTPStartTLS, SMTPTLS or SMTPNone
	Username string
	Password string
	// From is the sender address, e.g. "Steward <rmm@example.com>".
	From string
	// HELO is the name the server greets the relay with; empty for the
	// default ("localhost").
	HELO      string
	UpdatedAt time.Time
	UpdatedBy string
}

// SMTPSettings loads the mail relay settings; ErrNotFound when none are
// stored.
func (db *DB) SMTPSettings(ctx context.Context) (SMTPSettings, error) {
	var (
		s       SMTPSettings
		updated int64
	)
	err := db.sql.QueryRowContext(ctx, `SELECT host, port, security, username, password, from_address, helo_name, updated_at, updated_by
		FROM smtp_settings WHERE id = 1`).Scan(&s.Host, &s.Port, &s.Security, &s.Username, &s.Password, &s.From, &s.HELO, &updated, &s.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return SMTPSettings{}, fmt.Errorf("smtp settings: %w", ErrNotFound)
	}
	if err != nil {
		return SMTPSettings{}, fmt.Errorf("load smtp settings: %w", err)
	}
	s.UpdatedAt = fromMS(updated)
	return s, nil
}

// SaveSMTPSettings stores the mail relay settings, replacing any, and
// returns them with the update time.
func (t *Tx) SaveSMTPSettings(ctx context.Context, s SMTPSettings) (SMTPSettings, error) {
	s.UpdatedAt = fromMS(ms(t.db.now()))
	_, err := t.q.ExecContext(ctx, `INSERT INTO smtp_settings (id, host, port, security, username, password, from_address, helo_name, updated_at, updated_by)
		VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port, security = excluded.security,
			username = excluded.username, password = excluded.password, from_address = excluded.from_address,
			helo_name = excluded.helo_name, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		s.Host, s.Port, s.Security, s.Username, s.Password, s.From, s.HELO, ms(s.UpdatedAt), s.UpdatedBy)
	if err != nil {
		return SMTPSettings{}, fmt.Errorf("save smtp settings: %w", err)
	}
	return s, nil
}

// SMTPCredentials returns the stored relay host and password, both ""
// when no settings are stored.
func (t *Tx) SMTPCredentials(ctx context.Context) (host, password string, err error) {
	err = t.q.QueryRowContext(ctx, `SELECT host, password FROM smtp_settings WHERE id = 1`).Scan(&host, &password)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("load smtp credentials: %w", err)
	}
	return host, password, nil
}
