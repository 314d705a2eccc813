package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Client is a customer company of the MSP.
type Client struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Sites     int       `json:"sites"`
	Agents    int       `json:"agents"`
	Online    int       `json:"agents_online"`
}

// Site is a location of a client; agents enroll into a site.
type Site struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	Agents     int       `json:"agents"`
	Online     int       `json:"agents_online"`
}

// Page selects a slice of a list.
type Page struct {
	Limit  int
	Offset int
}

// Normalize clamps paging to sane bounds.
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	if p.Limit > 500 {
		p.Limit = 500
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// CreateClient inserts a client; names are unique ignoring case.
func (t *Tx) CreateClient(ctx context.Context, name string) (Client, error) {
	now := t.db.now()
	c := Client{ID: NewID(), Name: name, CreatedAt: fromMS(ms(now))}
	_, err := t.q.ExecContext(ctx, `INSERT INTO clients (id, name, created_at) VALUES ($1, $2, $3)`, c.ID, c.Name, ms(now))
	if t.db.dialect.isUniqueViolation(err) {
		return Client{}, fmt.Errorf("client %q: %w", name, ErrConflict)
	}
	if err != nil {
		return Client{}, fmt.Errorf("create client %q: %w", name, err)
	}
	return c, nil
}

const clientSelect = `SELECT c.id, c.name, c.created_at,
	(SELECT COUNT(*) FROM sites s WHERE s.client_id = c.id),
	(SELECT COUNT(*) FROM agents a WHERE a.client_id = c.id),
	(SELECT COUNT(*) FROM agents a WHERE a.client_id = c.id AND a.online)
	FROM clients c`

func scanClient(row interface{ Scan(...any) error }) (Client, error) {
	var (
		c       Client
		created int64
	)
	if err := row.Scan(&c.ID, &c.Name, &created, &c.Sites, &c.Agents, &c.Online); err != nil {
		return Client{}, err
	}
	c.CreatedAt = fromMS(created)
	return c, nil
}

// Client loads one client with its counts.
func (db *DB) Client(ctx context.Context, id string) (Client, error) {
	c, err := scanClient(db.sql.QueryRowContext(ctx, clientSelect+` WHERE c.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Client{}, fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Client{}, fmt.Errorf("load client %s: %w", id, err)
	}
	return c, nil
}

// ListClients returns clients by name, with their total count.
func (db *DB) ListClients(ctx context.Context, p Page) ([]Client, int, error) {
	p = p.Normalize()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM clients`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count clients: %w", err)
	}
	out, err := queryAll(ctx, db.sql, "list clients", scanClient, clientSelect+` ORDER BY lower(c.name) LIMIT $1 OFFSET $2`, p.Limit, p.Offset)
	return out, total, err
}

// CreateSite inserts a site under a client. It returns ErrNotFound when the
// client does not exist and ErrConflict when the name is taken in it.
func (t *Tx) CreateSite(ctx context.Context, clientID, name string) (Site, error) {
	var clientName string
	err := t.q.QueryRowContext(ctx, `SELECT name FROM clients WHERE id = $1`, clientID).Scan(&clientName)
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("client %s: %w", clientID, ErrNotFound)
	}
	if err != nil {
		return Site{}, fmt.Errorf("load client %s: %w", clientID, err)
	}
	now := t.db.now()
	s := Site{ID: NewID(), ClientID: clientID, ClientName: clientName, Name: name, CreatedAt: fromMS(ms(now))}
	_, err = t.q.ExecContext(ctx, `INSERT INTO sites (id, client_id, name, created_at) VALUES ($1, $2, $3, $4)`,
		s.ID, clientID, name, ms(now))
	if t.db.dialect.isUniqueViolation(err) {
		return Site{}, fmt.Errorf("site %q: %w", name, ErrConflict)
	}
	if err != nil {
		return Site{}, fmt.Errorf("create site %q: %w", name, err)
	}
	return s, nil
}

const siteSelect = `SELECT s.id, s.client_id, c.name, s.name, s.created_at,
	(SELECT COUNT(*) FROM agents a WHERE a.site_id = s.id),
	(SELECT COUNT(*) FROM agents a WHERE a.site_id = s.id AND a.online)
	FROM sites s JOIN clients c ON c.id = s.client_id`

func scanSite(row interface{ Scan(...any) error }) (Site, error) {
	var (
		s       Site
		created int64
	)
	if err := row.Scan(&s.ID, &s.ClientID, &s.ClientName, &s.Name, &created, &s.Agents, &s.Online); err != nil {
		return Site{}, err
	}
	s.CreatedAt = fromMS(created)
	return s, nil
}

// Site loads one site.
func (db *DB) Site(ctx context.Context, id string) (Site, error) {
	s, err := scanSite(db.sql.QueryRowContext(ctx, siteSelect+` WHERE s.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("site %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Site{}, fmt.Errorf("load site %s: %w", id, err)
	}
	return s, nil
}

// ListSites returns the sites of a client by name. An empty clientID lists
// every site.
func (db *DB) ListSites(ctx context.Context, clientID string, p Page) ([]Site, int, error) {
	p = p.Normalize()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM sites WHERE ($1 = '' OR client_id = $1)`, clientID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count sites: %w", err)
	}
	out, err := queryAll(ctx, db.sql, "list sites", scanSite, siteSelect+` WHERE ($1 = '' OR s.client_id = $1)
		ORDER BY lower(c.name), lower(s.name) LIMIT $2 OFFSET $3`, clientID, p.Limit, p.Offset)
	return out, total, err
}
