package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Replica is a server process sharing the database.
type Replica struct {
	ID             string    `json:"id"`
	Hostname       string    `json:"hostname"`
	Version        string    `json:"version"`
	StartedAt      time.Time `json:"started_at"`
	RenewedAt      time.Time `json:"renewed_at"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
}

// RenewReplica records that a replica is alive until expires, creating its
// row on first call.
func (db *DB) RenewReplica(ctx context.Context, r Replica, expires time.Time) error {
	now := ms(db.now())
	_, err := db.sql.ExecContext(ctx, `INSERT INTO replicas (id, hostname, version, started_at, renewed_at, lease_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET renewed_at = excluded.renewed_at, lease_expires_at = excluded.lease_expires_at`,
		r.ID, r.Hostname, r.Version, ms(r.StartedAt), now, ms(expires))
	if err != nil {
		return fmt.Errorf("renew replica %s: %w", r.ID, err)
	}
	return nil
}

// LiveReplicas returns replicas whose lease has not expired.
func (db *DB) LiveReplicas(ctx context.Context) ([]Replica, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, hostname, version, started_at, renewed_at, lease_expires_at
		FROM replicas WHERE lease_expires_at > $1 ORDER BY started_at`, ms(db.now()))
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var (
			r                           Replica
			started, renewed, expiresAt int64
		)
		if err := rows.Scan(&r.ID, &r.Hostname, &r.Version, &started, &renewed, &expiresAt); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.StartedAt, r.RenewedAt, r.LeaseExpiresAt = fromMS(started), fromMS(renewed), fromMS(expiresAt)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RemoveReplica deletes a replica's row at clean shutdown, and any expired
// rows left by replicas that died.
func (db *DB) RemoveReplica(ctx context.Context, id string) error {
	_, err := db.sql.ExecContext(ctx, `DELETE FROM replicas WHERE id = $1 OR lease_expires_at < $2`, id, ms(db.now().Add(-time.Hour)))
	if err != nil {
		return fmt.Errorf("remove replica %s: %w", id, err)
	}
	return nil
}

// AcquireLease takes or renews the named lease for holder until expires.
// It succeeds when the lease is free, expired, or already held by holder.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, expires time.Time) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < $4`,
		name, holder, ms(expires), ms(db.now()))
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up a lease the holder has, so another replica can
// take it at once.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// LeaseHolder returns who holds the named lease now, or "" when nobody
// does.
func (db *DB) LeaseHolder(ctx context.Context, name string) (string, error) {
	var holder string
	err := db.sql.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = $1 AND expires_at > $2`, name, ms(db.now())).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read lease %s: %w", name, err)
	}
	return holder, nil
}
