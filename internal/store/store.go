// Package store keeps Steward's state in SQLite (the embedded default) or
// PostgreSQL. Both run the same SQL with $N placeholders; the few
// differences between them live in dialect.go.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Sentinel errors for expected outcomes.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrUnavailable is a database that does not answer when opened: down,
	// unreachable or still starting, worth waiting for.
	ErrUnavailable = errors.New("database unavailable")
)

// DB is a handle on Steward's database.
type DB struct {
	sql     *sql.DB
	dialect dialect
	now     func() time.Time
}

// Options select and tune the database.
type Options struct {
	// URL is a postgres:// or postgresql:// URL. Empty means SQLite.
	URL string
	// DataDir holds the SQLite file (steward.db) when URL is empty.
	DataDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SQLiteFile is the name of the embedded database inside the data directory.
const SQLiteFile = "steward.db"

// Open connects to the database and applies pending migrations.
func Open(ctx context.Context, opts Options) (*DB, error) {
	db, err := open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, migrationFiles); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func open(ctx context.Context, opts Options) (*DB, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var (
		sqldb *sql.DB
		d     dialect
		err   error
	)
	switch {
	case opts.URL == "":
		if opts.DataDir == "" {
			return nil, errors.New("open database: no data directory and no database URL")
		}
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		path := filepath.Join(opts.DataDir, SQLiteFile)
		dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
			"&_pragma=synchronous(NORMAL)&_txlock=immediate"
		sqldb, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// SQLite allows one writer at a time; a small pool keeps readers
		// concurrent without piling up writers on the busy timeout.
		sqldb.SetMaxOpenConns(4)
		d = sqliteDialect{}
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		sqldb, err = sql.Open("pgx", opts.URL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(20)
		sqldb.SetMaxIdleConns(10)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		d = postgresDialect{}
	default:
		return nil, fmt.Errorf("open database: unsupported URL scheme in %q (want postgres://)", redactURL(opts.URL))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pingCtx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("connect to %s database: %w: %w", d.name(), ErrUnavailable, err)
	}
	return &DB{sql: sqldb, dialect: d, now: now}, nil
}

// Close releases the database.
func (db *DB) Close() error { return db.sql.Close() }

// Dialect names the database engine: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name() }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Stats returns connection pool statistics.
func (db *DB) Stats() sql.DBStats { return db.sql.Stats() }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a database transaction handed to WithTx callbacks. It offers the
// same store methods as DB, all inside the transaction.
type Tx struct {
	q  querier
	db *DB
}

func (db *DB) q() *Tx { return &Tx{q: db.sql, db: db} }

// WithTx runs fn in a transaction, committing when fn returns nil.
func (db *DB) WithTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&Tx{q: sqltx, db: db}); err != nil {
		sqltx.Rollback()
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NewID returns a new time-ordered unique ID.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// row is what sql.Row and sql.Rows offer to the scan functions.
type row = interface{ Scan(...any) error }

// queryAll runs a query and scans every row with scan. It returns an empty,
// non-nil slice when nothing matches, so lists encode as [] in JSON; what
// names the work in errors ("list alerts").
func queryAll[T any](ctx context.Context, q querier, what string, scan func(row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
