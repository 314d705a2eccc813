// Package storetest opens real databases for tests: a fresh SQLite file
// always, and a fresh PostgreSQL database when STEWARD_TEST_DATABASE_URL is
// set.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"testing/synctest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/steward-rmm/steward/internal/store"
)

// EnvPostgresURL names the variable holding an admin PostgreSQL URL.
const EnvPostgresURL = "STEWARD_TEST_DATABASE_URL"

// Backend is one database engine under test.
type Backend struct {
	Name string
	// Options opens a fresh, empty database of this engine.
	Options func(t *testing.T) store.Options
}

// Backends returns SQLite and, when configured, PostgreSQL.
func Backends(t *testing.T) []Backend {
	t.Helper()
	out := []Backend{{Name: "sqlite", Options: func(t *testing.T) store.Options {
		return store.Options{DataDir: t.TempDir()}
	}}}
	if os.Getenv(EnvPostgresURL) != "" {
		out = append(out, Backend{Name: "postgres", Options: func(t *testing.T) store.Options {
			return store.Options{URL: NewPostgresDatabase(t)}
		}})
	}
	return out
}

// Each runs fn once per backend with a fresh migrated database. Without
// STEWARD_TEST_DATABASE_URL it logs that PostgreSQL was skipped.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	if os.Getenv(EnvPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it", EnvPostgresURL)
	}
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Open(t, b.Options(t)))
		})
	}
}

// EachInBubble is Each with fn run inside a testing/synctest bubble, for
// tests whose subject is time (leases, intervals, batching delays): the
// store's clock is then the bubble's. The database is opened inside the
// bubble so that its connections begin and end there; fn must not call
// t.Run or t.Parallel.
func EachInBubble(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	if os.Getenv(EnvPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it", EnvPostgresURL)
	}
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			opts := b.Options(t)
			synctest.Test(t, func(t *testing.T) { fn(t, Open(t, opts)) })
		})
	}
}

// Open opens and migrates a database, closing it when the test ends.
func Open(t *testing.T, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("open %s database: %v", dialectOf(opts), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dialectOf(opts store.Options) string {
	if opts.URL == "" {
		return "sqlite"
	}
	return "postgres"
}

// NewPostgresDatabase creates an empty database on the server named by
// STEWARD_TEST_DATABASE_URL, drops it when the test ends, and returns its
// URL. It skips the test when the variable is unset.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgresURL)
	if admin == "" {
		t.Skipf("PostgreSQL test skipped: %s is not set", EnvPostgresURL)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "steward_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgresURL, err)
	}
	defer adb.Close()
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adb, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("open %s: %v", EnvPostgresURL, err)
			return
		}
		defer adb.Close()
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgresURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Analyze gathers the planner's statistics of the PostgreSQL database at
// databaseURL, as autovacuum would have after a benchmark's bulk seed in
// production; without them the planner guesses. An empty URL (SQLite,
// which keeps none) does nothing.
func Analyze(t testing.TB, databaseURL string) {
	t.Helper()
	if databaseURL == "" {
		return
	}
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "ANALYZE"); err != nil {
		t.Fatalf("ANALYZE: %v", err)
	}
}
