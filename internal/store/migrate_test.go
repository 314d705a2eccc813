package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests need the unexported migrate, so they live in package store
// and cannot import storetest (it imports store). testBackends mirrors
// storetest.Backends for them.

const envPostgresURL = "STEWARD_TEST_DATABASE_URL"

type testBackend struct {
	name string
	// opts returns options for a fresh, empty database.
	opts func(t *testing.T) Options
}

func testBackends(t *testing.T) []testBackend {
	t.Helper()
	out := []testBackend{{name: "sqlite", opts: func(t *testing.T) Options { return Options{DataDir: t.TempDir()} }}}
	if os.Getenv(envPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s to run it", envPostgresURL)
		return out
	}
	return append(out, testBackend{name: "postgres", opts: func(t *testing.T) Options {
		return Options{URL: newPostgresDatabase(t)}
	}})
}

// openUnmigrated opens a database without applying any migration.
func openUnmigrated(t *testing.T, opts Options) *DB {
	t.Helper()
	db, err := open(t.Context(), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newPostgresDatabase creates an empty database, drops it when the test
// ends, and returns its URL.
func newPostgresDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(envPostgresURL)
	b := make([]byte, 6)
	rand.Read(b)
	name := "steward_test_" + hex.EncodeToString(b)
	adminExec := func(query string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adb, err := sql.Open("pgx", admin)
		if err != nil {
			return err
		}
		defer adb.Close()
		_, err = adb.ExecContext(ctx, query)
		return err
	}
	if err := adminExec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if err := adminExec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", envPostgresURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// withMigrations returns the real migrations plus extra files.
func withMigrations(t *testing.T, extra map[string]string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(migrationFiles, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrationFiles, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatalf("read embedded migrations: %v", err)
	}
	for name, body := range extra {
		m["migrations/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}

// tableExists reports whether a table can be queried.
func tableExists(t *testing.T, db *DB, name string) bool {
	t.Helper()
	var one int
	err := db.sql.QueryRowContext(t.Context(), "SELECT 1 FROM "+name+" LIMIT 1").Scan(&one)
	return err == nil || errors.Is(err, sql.ErrNoRows)
}

type appliedMigration struct {
	Version   int64
	Name      string
	AppliedAt int64
}

func appliedMigrations(t *testing.T, db *DB) []appliedMigration {
	t.Helper()
	rows, err := db.sql.QueryContext(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.Version, &m.Name, &m.AppliedAt); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

// badMigration creates a table, then fails.
const badMigration = `-- Creates a table, then fails: nothing of it may survive.
CREATE TABLE bad_new (id BIGINT PRIMARY KEY);
INSERT INTO bad_new (id) VALUES (1);
SELECT no_such_column FROM no_such_table;
`

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := openUnmigrated(t, b.opts(t))
			if err := db.migrate(ctx, migrationFiles); err != nil {
				t.Fatalf("migrate(embedded): %v", err)
			}
			before := appliedMigrations(t, db)

			// An upgrade with a good and a bad migration applies neither.
			fsys := withMigrations(t, map[string]string{
				"0098_good.sql": "CREATE TABLE good_new (id BIGINT PRIMARY KEY);\n",
				"0099_bad.sql":  badMigration,
			})
			err := db.migrate(ctx, fsys)
			if err == nil {
				t.Fatalf("migrate(with 0099_bad.sql) succeeded, want error")
			}
			if !strings.Contains(err.Error(), "0099_bad.sql") || !strings.Contains(err.Error(), "statement 3") {
				t.Errorf("migrate error = %q, want it to name 0099_bad.sql and statement 3", err)
			}
			for _, table := range []string{"bad_new", "good_new"} {
				if tableExists(t, db, table) {
					t.Errorf("table %s exists after the failed migration, want it rolled back", table)
				}
			}
			if diff := cmp.Diff(before, appliedMigrations(t, db)); diff != "" {
				t.Errorf("schema_migrations changed by the failed migration (-before +after):\n%s", diff)
			}
			if v, err := db.SchemaVersion(ctx); err != nil || v != before[len(before)-1].Version {
				t.Errorf("SchemaVersion() after failure = %d, %v; want %d", v, err, before[len(before)-1].Version)
			}
			// The previous schema still works.
			if _, err := db.CreateUser(ctx, "still@example.com", "h", RoleOwner); err != nil {
				t.Errorf("CreateUser after the failed migration: %v", err)
			}
		})
	}
}

func TestMigrateFailureOnFreshDatabase(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := openUnmigrated(t, b.opts(t))
			err := db.migrate(t.Context(), withMigrations(t, map[string]string{"0099_bad.sql": badMigration}))
			if err == nil || !strings.Contains(err.Error(), "0099_bad.sql") {
				t.Fatalf("migrate(fresh, with 0099_bad.sql) error = %v, want one naming 0099_bad.sql", err)
			}
			// All or nothing: not even the first migration or the
			// bookkeeping table survives.
			for _, table := range []string{"bad_new", "users", "schema_migrations"} {
				if tableExists(t, db, table) {
					t.Errorf("table %s exists after the failed first migration, want none", table)
				}
			}
		})
	}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			opts := b.opts(t)
			opts.Now = func() time.Time { return now }
			db := openUnmigrated(t, opts)
			if err := db.migrate(ctx, migrationFiles); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			first := appliedMigrations(t, db)
			if len(first) == 0 || first[0] != (appliedMigration{1, "0001_init.sql", now.UnixMilli()}) {
				t.Errorf("schema_migrations after first run = %+v, want 0001_init.sql applied at %v first", first, now)
			}
			if _, err := db.CreateUser(ctx, "kept@example.com", "h", RoleOwner); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}

			now = now.Add(time.Hour)
			for range 2 {
				if err := db.migrate(ctx, migrationFiles); err != nil {
					t.Fatalf("migrate again: %v", err)
				}
			}
			if diff := cmp.Diff(first, appliedMigrations(t, db)); diff != "" {
				t.Errorf("schema_migrations changed by re-running migrations (-first +now):\n%s", diff)
			}
			if _, err := db.UserByEmail(ctx, "kept@example.com"); err != nil {
				t.Errorf("UserByEmail after re-running migrations: %v", err)
			}

			// A new migration applies on its own, recorded with its name.
			err := db.migrate(ctx, withMigrations(t, map[string]string{"0900_more.sql": "CREATE TABLE more_new (id BIGINT);\n"}))
			if err != nil {
				t.Fatalf("migrate(with 0900_more.sql): %v", err)
			}
			got := appliedMigrations(t, db)
			want := append(first, appliedMigration{900, "0900_more.sql", now.UnixMilli()})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("schema_migrations after adding 0900 (-want +got):\n%s", diff)
			}
			if !tableExists(t, db, "more_new") {
				t.Errorf("table more_new missing after its migration")
			}
		})
	}
}

// TestMigrateConcurrently starts two processes' worth of migrations on one
// empty database at once: both must succeed and apply each file once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			opts := b.opts(t)
			const n = 3
			dbs := make([]*DB, n)
			for i := range dbs {
				dbs[i] = openUnmigrated(t, opts)
			}
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, db := range dbs {
				wg.Go(func() {
					<-start
					errs[i] = db.migrate(t.Context(), migrationFiles)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("concurrent migrate #%d: %v", i, err)
				}
			}
			migs, err := loadMigrations(migrationFiles)
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			if got := appliedMigrations(t, dbs[0]); len(got) != len(migs) {
				t.Errorf("schema_migrations after concurrent runs has %d rows, want %d: %+v", len(got), len(migs), got)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	t.Run("order and filtering", func(t *testing.T) {
		fsys := fstest.MapFS{
			"migrations/10_ten.sql":          file("ten"),
			"migrations/9_nine.sql":          file("nine"),
			"migrations/0002_two.sql":        file("two"),
			"migrations/README.md":           file("not a migration"),
			"migrations/0003_three.sql.orig": file("backup"),
			"migrations/sub/0004_dir.sql":    file("in a subdirectory"),
			"0005_outside.sql":               file("outside"),
		}
		migs, err := loadMigrations(fsys)
		if err != nil {
			t.Fatalf("loadMigrations: %v", err)
		}
		want := []migration{{2, "0002_two.sql", "two"}, {9, "9_nine.sql", "nine"}, {10, "10_ten.sql", "ten"}}
		if diff := cmp.Diff(want, migs, cmp.AllowUnexported(migration{})); diff != "" {
			t.Errorf("loadMigrations (-want +got):\n%s", diff)
		}
	})

	bad := []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"duplicate version", []string{"0001_a.sql", "0001_b.sql"}, "share version 1"},
		{"duplicate version, different padding", []string{"0007_a.sql", "7_b.sql"}, "share version 7"},
		{"no underscore", []string{"0001.sql"}, "name must be NNNN_description.sql"},
		{"not a number", []string{"init_schema.sql"}, "bad version number"},
		{"zero", []string{"0000_zero.sql"}, "bad version number"},
		{"negative", []string{"-1_neg.sql"}, "bad version number"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["migrations/"+f] = file("SELECT 1;")
			}
			_, err := loadMigrations(fsys)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("loadMigrations(%q) error = %v, want it to contain %q", tt.files, err, tt.wantErr)
			}
		})
	}

	t.Run("no directory", func(t *testing.T) {
		if _, err := loadMigrations(fstest.MapFS{}); err == nil {
			t.Errorf("loadMigrations(empty FS) succeeded, want error")
		}
	})

	t.Run("embedded", func(t *testing.T) {
		migs, err := loadMigrations(migrationFiles)
		if err != nil {
			t.Fatalf("loadMigrations(embedded): %v", err)
		}
		if len(migs) == 0 || migs[0].version != 1 {
			t.Fatalf("embedded migrations = %d, want 0001 first", len(migs))
		}
		for _, m := range migs {
			if len(splitStatements(m.sql)) == 0 {
				t.Errorf("migration %s has no statements", m.name)
			}
		}
	})
}

// TestMigrateRejectsDuplicateVersions checks that a bad set of files stops
// migrate before it touches the database.
func TestMigrateRejectsDuplicateVersions(t *testing.T) {
	t.Parallel()
	db := openUnmigrated(t, Options{DataDir: t.TempDir()})
	err := db.migrate(t.Context(), withMigrations(t, map[string]string{"1_again.sql": "CREATE TABLE again_new (id BIGINT);\n"}))
	if err == nil || !strings.Contains(err.Error(), "share version 1") {
		t.Fatalf("migrate(duplicate version) error = %v, want it to mention the shared version", err)
	}
	if tableExists(t, db, "schema_migrations") || tableExists(t, db, "users") {
		t.Errorf("migrate touched the database despite duplicate versions")
	}
}

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"blank lines", "\n\n  \n", nil},
		{"comments only", "-- one\n  -- two;\n", nil},
		{"one statement", "CREATE TABLE a (id INT);", []string{"CREATE TABLE a (id INT);"}},
		{"no final semicolon", "CREATE TABLE a (id INT);\nCREATE INDEX a_id ON a (id)",
			[]string{"CREATE TABLE a (id INT);", "CREATE INDEX a_id ON a (id)"}},
		{"multi-line statement", "CREATE TABLE a (\n    id INT,\n    name TEXT\n);\n",
			[]string{"CREATE TABLE a (\n    id INT,\n    name TEXT\n);"}},
		{"semicolon inside a line does not split", "INSERT INTO a VALUES ('x;y');\nSELECT 1;",
			[]string{"INSERT INTO a VALUES ('x;y');", "SELECT 1;"}},
		{"two statements on one line stay together", "SELECT 1; SELECT 2;\n", []string{"SELECT 1; SELECT 2;"}},
		{"trailing spaces after semicolon", "SELECT 1;   \t\nSELECT 2;", []string{"SELECT 1;", "SELECT 2;"}},
		{"CRLF line endings", "CREATE TABLE a (\r\n  id INT\r\n);\r\nSELECT 1;\r\n",
			[]string{"CREATE TABLE a (\r\n  id INT\r\n);", "SELECT 1;"}},
		{"leading comment kept with its statement", "-- the users\nCREATE TABLE u (id INT);\n\n-- trailing note\n",
			[]string{"-- the users\nCREATE TABLE u (id INT);"}},
		{"comment between statements", "SELECT 1;\n-- between;\nSELECT 2;\n", []string{"SELECT 1;", "SELECT 2;"}},
		{"indented comment", "SELECT 1;\n   -- note\n", []string{"SELECT 1;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitStatements(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("splitStatements(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// upTo keeps the embedded migrations up to and including version last: the
// schema of an older release.
func upTo(t *testing.T, last int64) fs.FS {
	t.Helper()
	migs, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("load migrations: %v", err)
	}
	m := fstest.MapFS{}
	for _, mig := range migs {
		if mig.version <= last {
			m["migrations/"+mig.name] = &fstest.MapFile{Data: []byte(mig.sql)}
		}
	}
	return m
}

// TestMigrateUpgradeFromMonitoringRelease upgrades a database created by
// the release before inventory and email settings (migrations 0001-0010),
// holding an agent and a webhook channel, and checks both work with the new
// tables and columns.
func TestMigrateUpgradeFromMonitoringRelease(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := openUnmigrated(t, b.opts(t))
			if err := db.migrate(ctx, upTo(t, 10)); err != nil {
				t.Fatalf("migrate to 0010: %v", err)
			}
			var agentID string
			err := db.WithTx(ctx, func(tx *Tx) error {
				c, err := tx.CreateClient(ctx, "Acme")
				if err != nil {
					return err
				}
				s, err := tx.CreateSite(ctx, c.ID, "HQ")
				if err != nil {
					return err
				}
				agentID = NewID()
				if _, err := tx.q.ExecContext(ctx, `INSERT INTO agents (id, client_id, site_id, secret_hash, hostname, os, os_name,
					os_version, arch, kernel, version, boot_time, ip_addresses, users, enrolled_at, last_seen)
					VALUES ($1, $2, $3, 'h', 'pc-1', 'linux', 'Ubuntu', '24.04', 'amd64', '6.8', '1.0', 0, '[]', '[]', 1, 1)`,
					agentID, c.ID, s.ID); err != nil {
					return err
				}
				_, err = tx.q.ExecContext(ctx, `INSERT INTO notification_channels (id, name, kind, url, secret, min_severity, enabled, created_at)
					VALUES ($1, 'ops', 'webhook', 'https://hooks.example.com/x', 'whsec_0123456789abcdef', 'warning', TRUE, 1)`, NewID())
				return err
			})
			if err != nil {
				t.Fatalf("fill the 0010 schema: %v", err)
			}

			if err := db.migrate(ctx, migrationFiles); err != nil {
				t.Fatalf("migrate 0010 to the latest: %v", err)
			}

			chans, err := db.ListChannels(ctx)
			if err != nil {
				t.Fatalf("ListChannels after the upgrade: %v", err)
			}
			if len(chans) != 1 || chans[0].Kind != ChannelWebhook || chans[0].Recipients != nil || chans[0].Secret != "whsec_0123456789abcdef" {
				t.Errorf("channels after the upgrade = %+v, want the webhook with its secret and no recipients", chans)
			}
			sw := []InstalledSoftware{{TitleID: TitleID("curl", "8.5", "Ubuntu"), Name: "curl", Version: "8.5", Publisher: "Ubuntu", Source: "dpkg"}}
			err = db.WithTx(ctx, func(tx *Tx) error {
				if err := tx.AddSoftwareTitles(ctx, []SoftwareTitle{{ID: sw[0].TitleID, Name: "curl", Version: "8.5", Publisher: "Ubuntu"}}); err != nil {
					return err
				}
				if err := tx.AddAgentSoftware(ctx, agentID, sw); err != nil {
					return err
				}
				if err := tx.PutInventorySnapshot(ctx, InventorySnapshot{AgentID: agentID, CollectedAt: time.UnixMilli(5), ReceivedAt: time.UnixMilli(6),
					Reason: "start", SoftwareCount: 1, SoftwareHash: "x"}); err != nil {
					return err
				}
				_, err := tx.SaveSMTPSettings(ctx, SMTPSettings{Host: "smtp.example.com", Port: 587, Security: SMTPStartTLS, From: "rmm@example.com"})
				return err
			})
			if err != nil {
				t.Fatalf("store inventory and SMTP settings for the upgraded agent: %v", err)
			}
			got, err := db.AgentSoftware(ctx, agentID, "")
			if err != nil {
				t.Fatalf("AgentSoftware: %v", err)
			}
			if diff := cmp.Diff(sw, got); diff != "" {
				t.Errorf("software of the upgraded agent (-want +got):\n%s", diff)
			}
		})
	}
}
