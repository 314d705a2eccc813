package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is the one place where SQLite and PostgreSQL differ.
type dialect interface {
	name() string
	// lockMigrations serialises migrations between processes inside tx.
	lockMigrations(ctx context.Context, q querier) error
	// lockUsers serialises first-user creation inside tx.
	lockUsers(ctx context.Context, q querier) error
	// isUniqueViolation reports whether err is a unique constraint failure.
	isUniqueViolation(err error) bool
	// isConflict reports whether err aborted a statement that lost a
	// deadlock or serialization conflict with another transaction, and
	// running it again is the cure.
	isConflict(err error) bool
	// rowsPerStatement bounds the rows of one multi-row statement.
	rowsPerStatement() int
	// lockKey serialises transactions that take the same key until tx
	// ends, even when no row exists yet to lock.
	lockKey(ctx context.Context, q querier, key string) error
	// jsonText is the SQL for the text of a top-level field of the JSON
	// object in the TEXT column expression col ('' when it is absent).
	jsonText(col, field string) string
}

type sqliteDialect struct{}

func (sqliteDialect) name() string { return "sqlite" }

// SQLite transactions start with BEGIN IMMEDIATE (_txlock=immediate), which
// already holds the single write lock for the whole migration.
func (sqliteDialect) lockMigrations(context.Context, querier) error { return nil }

// lockUsers: BEGIN IMMEDIATE already serialises every writing transaction.
func (sqliteDialect) lockUsers(context.Context, querier) error { return nil }

// SQLite looks $N parameters up linearly, so a statement's cost grows with
// the square of its parameters: short statements are faster per row.
func (sqliteDialect) rowsPerStatement() int { return 32 }

// lockKey: BEGIN IMMEDIATE already serialises every writing transaction.
func (sqliteDialect) lockKey(context.Context, querier, string) error { return nil }

// isConflict: SQLite takes the whole database's write lock, so writers
// queue (busy_timeout) rather than deadlock.
func (sqliteDialect) isConflict(error) bool { return false }

func (sqliteDialect) isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func (sqliteDialect) jsonText(col, field string) string {
	return "COALESCE(json_extract(" + col + ", '$." + field + "'), '')"
}

type postgresDialect struct{}

func (postgresDialect) jsonText(col, field string) string {
	return "COALESCE(CAST(NULLIF(" + col + ", '') AS jsonb) ->> '" + field + "', '')"
}

func (postgresDialect) name() string { return "postgres" }

// migrationLockID is an arbitrary constant shared by every replica.
const migrationLockID = 0x5354455741524431 // "STEWARD1"

func (postgresDialect) lockMigrations(ctx context.Context, q querier) error {
	if _, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockID)); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

// lockUsers blocks other lockUsers callers and inserts into users until tx
// ends. Under READ COMMITTED, two transactions that both count zero users
// would otherwise both insert.
func (postgresDialect) lockUsers(ctx context.Context, q querier) error {
	if _, err := q.ExecContext(ctx, "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock users: %w", err)
	}
	return nil
}

// lockKey takes a transaction-scoped advisory lock on a 64-bit hash of
// key. Two keys sharing a hash only wait for each other.
func (postgresDialect) lockKey(ctx context.Context, q querier, key string) error {
	h := fnv.New64a()
	h.Write([]byte(key))
	if _, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
		return fmt.Errorf("take lock %s: %w", key, err)
	}
	return nil
}

// PostgreSQL pays a round trip per statement, so longer ones win, well
// under its 65,535-parameter limit.
func (postgresDialect) rowsPerStatement() int { return 500 }

func (postgresDialect) isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isConflict: deadlock_detected and serialization_failure.
func (postgresDialect) isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
