package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Channel kinds.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
)

// Channel is where notifications go: a webhook URL or email recipients.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"` // ChannelWebhook or ChannelEmail
	// URL and Secret are a webhook's; Secret is never shown after creation.
	URL    string `json:"url,omitempty"`
	Secret string `json:"-"`
	// Recipients are an email channel's addresses.
	Recipients  []string  `json:"recipients,omitempty"`
	MinSeverity string    `json:"min_severity"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
}

// Delivery is one notification for one channel, with its attempts.
type Delivery struct {
	ID         string    `json:"id"`
	ChannelID  string    `json:"channel_id"`
	Event      string    `json:"event"`
	Payload    string    `json:"-"`
	State      string    `json:"state"` // pending, sent, failed
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	LastStatus int       `json:"last_status,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	SentAt     time.Time `json:"sent_at,omitzero"`
}

// CreateChannel stores a channel.
func (t *Tx) CreateChannel(ctx context.Context, c Channel) (Channel, error) {
	c.ID, c.CreatedAt = NewID(), fromMS(ms(t.db.now()))
	rcpt, err := encodeRecipients(c.Recipients)
	if err != nil {
		return Channel{}, err
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO notification_channels (id, name, kind, url, secret, recipients, min_severity, enabled, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.ID, c.Name, c.Kind, c.URL, c.Secret, rcpt, c.MinSeverity, c.Enabled, ms(c.CreatedAt))
	if t.db.dialect.isUniqueViolation(err) {
		return Channel{}, fmt.Errorf("channel %q: %w", c.Name, ErrConflict)
	}
	if err != nil {
		return Channel{}, fmt.Errorf("create channel %q: %w", c.Name, err)
	}
	return c, nil
}

// UpdateChannel replaces a channel's settings; its kind and creation time
// stay.
func (t *Tx) UpdateChannel(ctx context.Context, c Channel) error {
	rcpt, err := encodeRecipients(c.Recipients)
	if err != nil {
		return err
	}
	res, err := t.q.ExecContext(ctx, `UPDATE notification_channels SET name = $1, url = $2, secret = $3, recipients = $4,
		min_severity = $5, enabled = $6 WHERE id = $7`, c.Name, c.URL, c.Secret, rcpt, c.MinSeverity, c.Enabled, c.ID)
	if t.db.dialect.isUniqueViolation(err) {
		return fmt.Errorf("channel %q: %w", c.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update channel %s: %w", c.ID, err)
	}
	return expectOne(res, "channel "+c.ID)
}

func encodeRecipients(rcpt []string) (string, error) {
	if rcpt == nil {
		rcpt = []string{}
	}
	b, err := json.Marshal(rcpt)
	if err != nil {
		return "", fmt.Errorf("encode recipients: %w", err)
	}
	return string(b), nil
}

// DeleteChannel removes a channel and its deliveries.
func (t *Tx) DeleteChannel(ctx context.Context, id string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM notification_channels WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete channel %s: %w", id, err)
	}
	return expectOne(res, "channel "+id)
}

const channelColumns = `id, name, kind, url, secret, recipients, min_severity, enabled, created_at`

func scanChannel(row interface{ Scan(...any) error }) (Channel, error) {
	var (
		c       Channel
		rcpt    string
		created int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.URL, &c.Secret, &rcpt, &c.MinSeverity, &c.Enabled, &created); err != nil {
		return Channel{}, err
	}
	if err := json.Unmarshal([]byte(rcpt), &c.Recipients); err != nil {
		return Channel{}, fmt.Errorf("channel %s recipients: %w", c.ID, err)
	}
	if len(c.Recipients) == 0 {
		c.Recipients = nil
	}
	c.CreatedAt = fromMS(created)
	return c, nil
}

// Channel loads one channel.
func (db *DB) Channel(ctx context.Context, id string) (Channel, error) {
	c, err := scanChannel(db.sql.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, fmt.Errorf("channel %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Channel{}, fmt.Errorf("load channel %s: %w", id, err)
	}
	return c, nil
}

// ListChannels returns every channel by name.
func (db *DB) ListChannels(ctx context.Context) ([]Channel, error) {
	return queryAll(ctx, db.sql, "list channels", scanChannel, `SELECT `+channelColumns+` FROM notification_channels ORDER BY lower(name)`)
}

// QueueDelivery adds a pending delivery, due at next, and returns its ID.
func (db *DB) QueueDelivery(ctx context.Context, channelID, event, payload string, next time.Time) (string, error) {
	id := NewID()
	_, err := db.sql.ExecContext(ctx, `INSERT INTO notification_deliveries (id, channel_id, event, payload, state, next_at, created_at)
		VALUES ($1, $2, $3, $4, 'pending', $5, $6)`, id, channelID, event, payload, ms(next), ms(db.now()))
	if err != nil {
		return "", fmt.Errorf("queue notification for channel %s: %w", channelID, err)
	}
	return id, nil
}

const deliveryColumns = `id, channel_id, event, payload, state, attempts, next_at, last_error, last_status, created_at, sent_at`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var (
		d             Delivery
		next, created int64
		sent          sql.NullInt64
	)
	if err := row.Scan(&d.ID, &d.ChannelID, &d.Event, &d.Payload, &d.State, &d.Attempts, &next, &d.LastError, &d.LastStatus, &created, &sent); err != nil {
		return Delivery{}, err
	}
	d.NextAt, d.CreatedAt, d.SentAt = fromMS(next), fromMS(created), fromNullMS(sent)
	return d, nil
}

// DueDeliveries returns pending deliveries whose time has come, oldest first.
func (db *DB) DueDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return queryAll(ctx, db.sql, "load due notifications", scanDelivery, `SELECT `+deliveryColumns+` FROM notification_deliveries
		WHERE state = 'pending' AND next_at <= $1 ORDER BY created_at LIMIT $2`, ms(db.now()), limit)
}

// RecordAttempt stores the outcome of one delivery attempt: sent, retry at
// next, or failed for good.
func (db *DB) RecordAttempt(ctx context.Context, id, state string, status int, errText string, next time.Time) error {
	var sentAt any
	if state == "sent" {
		sentAt = ms(db.now())
	}
	_, err := db.sql.ExecContext(ctx, `UPDATE notification_deliveries SET state = $1, attempts = attempts + 1, last_status = $2,
		last_error = $3, next_at = $4, sent_at = $5 WHERE id = $6`, state, status, errText, ms(next), sentAt, id)
	if err != nil {
		return fmt.Errorf("record notification attempt %s: %w", id, err)
	}
	return nil
}

// ListDeliveries returns a channel's delivery log, newest first.
func (db *DB) ListDeliveries(ctx context.Context, channelID string, p Page) ([]Delivery, error) {
	p = p.Normalize()
	return queryAll(ctx, db.sql, "list deliveries", scanDelivery, `SELECT `+deliveryColumns+` FROM notification_deliveries WHERE channel_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`, channelID, p.Limit, p.Offset)
}
