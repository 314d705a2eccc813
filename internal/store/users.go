package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Role is a user's permission level.
type Role string

// Roles, most powerful first.
const (
	RoleOwner      Role = "owner"
	RoleAdmin      Role = "admin"
	RoleTechnician Role = "technician"
	RoleReadonly   Role = "readonly"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleOwner, RoleAdmin, RoleTechnician, RoleReadonly:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want owner, admin, technician or readonly)", s)
}

// User is a dashboard and API account.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"-"`
	Role         Role      `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
}

// NormalizeEmail lowercases and trims an address so lookups are exact.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser inserts a user. It returns ErrConflict if the email is taken.
func (t *Tx) CreateUser(ctx context.Context, email, passwordHash string, role Role) (User, error) {
	now := t.db.now()
	u := User{ID: NewID(), Email: NormalizeEmail(email), PasswordHash: passwordHash, Role: role, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO users (id, email, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
		u.ID, u.Email, u.PasswordHash, string(u.Role), ms(now))
	if t.db.dialect.isUniqueViolation(err) {
		return User{}, fmt.Errorf("create user %s: %w", u.Email, ErrConflict)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return u, nil
}

// CreateUser inserts a user outside a transaction.
func (db *DB) CreateUser(ctx context.Context, email, passwordHash string, role Role) (User, error) {
	return db.q().CreateUser(ctx, email, passwordHash, role)
}

// CreateFirstUser inserts a user only if no user exists yet, atomically, so
// two setup requests racing cannot both create an owner.
func (db *DB) CreateFirstUser(ctx context.Context, email, passwordHash string, role Role) (User, error) {
	var u User
	err := db.WithTx(ctx, func(tx *Tx) error {
		var err error
		u, err = tx.CreateFirstUser(ctx, email, passwordHash, role)
		return err
	})
	return u, err
}

// CreateFirstUser inserts a user inside tx only if no user exists yet.
func (t *Tx) CreateFirstUser(ctx context.Context, email, passwordHash string, role Role) (User, error) {
	if err := t.db.dialect.lockUsers(ctx, t.q); err != nil {
		return User{}, err
	}
	n, err := t.CountUsers(ctx)
	if err != nil {
		return User{}, err
	}
	if n > 0 {
		return User{}, fmt.Errorf("create first user: %w", ErrConflict)
	}
	return t.CreateUser(ctx, email, passwordHash, role)
}

const userColumns = `id, email, password_hash, role, created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u       User
		role    string
		created int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &created); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.CreatedAt = fromMS(created)
	return u, nil
}

// UserByEmail looks a user up by email.
func (db *DB) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, NormalizeEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", email, err)
	}
	return u, nil
}

// UserByID looks a user up by ID.
func (db *DB) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by email.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers returns how many users exist.
func (t *Tx) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := t.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// HasUsers reports whether any user exists.
func (db *DB) HasUsers(ctx context.Context) (bool, error) {
	var one int
	err := db.sql.QueryRowContext(ctx, `SELECT 1 FROM users LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check for users: %w", err)
	}
	return true, nil
}

// SetPassword replaces a user's password hash.
func (db *DB) SetPassword(ctx context.Context, userID, passwordHash string) error {
	res, err := db.sql.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`,
		passwordHash, ms(db.now()), userID)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", userID, err)
	}
	return expectOne(res, "user "+userID)
}

func expectOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
