package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/store"
)

// result is what one Run produced.
type result struct {
	code           int
	stdout, stderr string
}

// steward executes the command line in-process with the given environment and
// standard input.
func steward(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), args, func(k string) string { return env[k] },
		IO{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr})
	return result{code, stdout.String(), stderr.String()}
}

// runOK runs a command that must succeed.
func runOK(t *testing.T, args ...string) result {
	t.Helper()
	r := steward(t, nil, "", args...)
	if r.code != 0 {
		t.Fatalf("steward %s = exit %d, want 0; stderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// dataDir returns a directory holding a migrated SQLite database, as
// "steward migrate" or a first "steward serve" leaves it.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	runOK(t, "migrate", "--data-dir", dir)
	return dir
}

// openDB opens the SQLite database a command wrote in dir.
func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open store in %s: %v", dir, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var generatedPassword = regexp.MustCompile(`(?m)^password: (\S+)$`)

func TestUserCreateGeneratesPassword(t *testing.T) {
	dir := dataDir(t)
	r := runOK(t, "user", "create", "--data-dir", dir, "--email", "Alice@Example.com", "--role", "owner")
	if !strings.Contains(r.stdout, "created owner user alice@example.com") {
		t.Errorf("stdout = %q, want it to report the created owner", r.stdout)
	}
	m := generatedPassword.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("stdout = %q, want a generated password line", r.stdout)
	}
	u, err := openDB(t, dir).UserByEmail(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if u.Role != store.RoleOwner {
		t.Errorf("role = %q, want owner", u.Role)
	}
	if err := auth.VerifyPassword(u.PasswordHash, m[1]); err != nil {
		t.Errorf("VerifyPassword(printed password) = %v, want nil", err)
	}
}

func TestUserCreatePasswordStdin(t *testing.T) {
	dir := dataDir(t)
	const pw = "correct horse battery staple"
	r := steward(t, nil, pw+"\r\nignored second line\n",
		"user", "create", "--data-dir", dir, "--email", "bob@example.com", "--role", "technician", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "password:") || strings.Contains(r.stdout, pw) {
		t.Errorf("stdout = %q, want no password echoed", r.stdout)
	}
	u, err := openDB(t, dir).UserByEmail(t.Context(), "bob@example.com")
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if err := auth.VerifyPassword(u.PasswordHash, pw); err != nil {
		t.Errorf("VerifyPassword(first stdin line) = %v, want nil", err)
	}
}

func TestUserCreateErrors(t *testing.T) {
	dir := dataDir(t)
	runOK(t, "user", "create", "--data-dir", dir, "--email", "carol@example.com", "--role", "admin")

	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"duplicate email, other case", "", []string{"--email", "CAROL@example.com", "--role", "readonly"},
			1, "a user with email carol@example.com already exists"},
		{"bad role", "", []string{"--email", "dave@example.com", "--role", "superuser"}, 1, `--role: unknown role "superuser"`},
		{"empty stdin password", "\n", []string{"--email", "erin@example.com", "--role", "admin", "--password-stdin"},
			1, "standard input held no password"},
		{"missing email", "", []string{"--role", "owner"}, 2, "--email and --role are required"},
		{"missing role", "", []string{"--email", "frank@example.com"}, 2, "--email and --role are required"},
		{"unknown flag", "", []string{"--email", "frank@example.com", "--role", "owner", "--admin"}, 2, "flag provided but not defined"},
		{"extra argument", "", []string{"--email", "frank@example.com", "--role", "owner", "extra"}, 2, "unexpected arguments: extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"user", "create", "--data-dir", dir}, tt.args...)
			r := steward(t, nil, tt.stdin, args...)
			if r.code != tt.wantCode {
				t.Errorf("exit = %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want empty on failure", r.stdout)
			}
		})
	}
}

func TestUserAPIToken(t *testing.T) {
	dir := dataDir(t)
	runOK(t, "user", "create", "--data-dir", dir, "--email", "ops@example.com", "--role", "admin")

	r := runOK(t, "user", "api-token", "--data-dir", dir, "--email", "OPS@example.com", "--name", "ci")
	tok := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(tok, auth.PrefixAPIToken) || strings.Contains(tok, "\n") {
		t.Errorf("stdout = %q, want exactly one %s token", r.stdout, auth.PrefixAPIToken)
	}
	if !strings.Contains(r.stderr, "ops@example.com") || strings.Contains(r.stderr, tok) {
		t.Errorf("stderr = %q, want a note naming the user and not the token", r.stderr)
	}

	t.Run("unknown user", func(t *testing.T) {
		r := steward(t, nil, "", "user", "api-token", "--data-dir", dir, "--email", "ghost@example.com", "--name", "ci")
		if r.code != 1 || !strings.Contains(r.stderr, "no user with email ghost@example.com") {
			t.Errorf("exit %d, stderr %q; want 1 and a message naming the missing user", r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout = %q, want empty", r.stdout)
		}
	})
	t.Run("missing name", func(t *testing.T) {
		r := steward(t, nil, "", "user", "api-token", "--data-dir", dir, "--email", "ops@example.com")
		if r.code != 2 || !strings.Contains(r.stderr, "--email and --name are required") {
			t.Errorf("exit %d, stderr %q; want 2 and a required-flags message", r.code, r.stderr)
		}
	})
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	r := runOK(t, "migrate", "--data-dir", dir)
	v, err := openDB(t, dir).SchemaVersion(t.Context())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v < 1 {
		t.Fatalf("SchemaVersion = %d, want at least 1", v)
	}
	want := "sqlite database at schema version "
	if !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, " "+strconv.FormatInt(v, 10)+"\n") {
		t.Errorf("stdout = %q, want %q followed by %d", r.stdout, want, v)
	}
	// Migrating again is a no-op that reports the same version.
	if again := runOK(t, "migrate", "--data-dir", dir); again.stdout != r.stdout {
		t.Errorf("second migrate stdout = %q, want %q", again.stdout, r.stdout)
	}
}

func TestDataDirFromEnv(t *testing.T) {
	dir := dataDir(t)
	env := map[string]string{"STEWARD_DATA_DIR": dir}
	if r := steward(t, env, "", "user", "create", "--email", "env@example.com", "--role", "readonly"); r.code != 0 {
		t.Fatalf("user create with STEWARD_DATA_DIR: exit %d, stderr %s", r.code, r.stderr)
	}
	if _, err := openDB(t, dir).UserByEmail(t.Context(), "env@example.com"); err != nil {
		t.Errorf("UserByEmail in STEWARD_DATA_DIR %s: %v", dir, err)
	}

	// The flag wins over the environment.
	other := t.TempDir()
	if r := steward(t, env, "", "migrate", "--data-dir", other); r.code != 0 {
		t.Fatalf("migrate --data-dir: exit %d, stderr %s", r.code, r.stderr)
	}
	if _, err := openDB(t, other).UserByEmail(t.Context(), "env@example.com"); err == nil {
		t.Errorf("--data-dir %s holds the user created in STEWARD_DATA_DIR", other)
	}
}

func TestTopLevelCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "steward " + Version + "\n", ""},
		{"--version", []string{"--version"}, 0, "steward " + Version + "\n", ""},
		{"help", []string{"help"}, 0, "Usage:", ""},
		{"no arguments", nil, 2, "", "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown user subcommand", []string{"user", "delete"}, 2, "", `unknown command "user delete"`},
		{"user alone", []string{"user"}, 2, "", "Usage:"},
		{"command help", []string{"migrate", "-h"}, 0, "", "-data-dir"},
		{"serve bad log level", []string{"serve", "--log-level", "loud"}, 1, "", `--log-level "loud"`},
		{"serve nats on sqlite", []string{"serve", "--data-dir", "unused", "--nats-url", "nats://127.0.0.1:4222"}, 1, "", "--nats-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := steward(t, nil, "", tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit = %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", r.stdout, tt.wantStdout)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
		})
	}
}

// TestUserCommandsNeedADatabase runs the user commands where no database
// is: they refuse to create one and say where they looked.
func TestUserCommandsNeedADatabase(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"user", "create", "--data-dir", dir, "--email", "a@example.com", "--role", "owner"},
		{"user", "api-token", "--data-dir", dir, "--email", "a@example.com", "--name", "ci"},
	} {
		r := steward(t, nil, "", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "no database at SQLite "+filepath.Join(dir, store.SQLiteFile)) ||
			!strings.Contains(r.stderr, "steward migrate") {
			t.Errorf("steward %s: exit %d, stderr %q; want 1 and where it looked", strings.Join(args, " "), r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, store.SQLiteFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("steward %s created a database: %v", strings.Join(args, " "), err)
		}
	}
	// Once a database exists, the commands say which one they opened.
	runOK(t, "migrate", "--data-dir", dir)
	r := runOK(t, "user", "create", "--data-dir", dir, "--email", "a@example.com", "--role", "owner")
	if want := "database: SQLite " + filepath.Join(dir, store.SQLiteFile); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

func TestDescribeDatabase(t *testing.T) {
	for _, tt := range []struct {
		url, want string
	}{
		{"postgres://steward:s3cret@db.example.com:5432/steward?sslmode=disable", "PostgreSQL db.example.com:5432/steward"},
		{"postgres:///steward?host=/run/postgresql", "PostgreSQL (from --database-url)"},
	} {
		d := dbFlags{databaseURL: tt.url}
		if got := d.describe(); got != tt.want {
			t.Errorf("describe(%q) got %q, want %q", tt.url, got, tt.want)
		}
	}
}

// TestServeHelp checks that every flag of serve is under a heading.
func TestServeHelp(t *testing.T) {
	r := steward(t, nil, "", "serve", "-h")
	if r.code != 0 {
		t.Fatalf("serve -h: exit %d", r.code)
	}
	for _, want := range []string{"Usage: steward serve [flags]", "Storage:", "  --listen ADDR", "listen on ADDR", "[default :8080]",
		"  --database-url URL", "  --heartbeat interval", "[default 30s]", "Logs and debugging:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("serve -h lacks %q:\n%s", want, r.stderr)
		}
	}
	// A flag left out of the groups would show under "Other".
	if strings.Contains(r.stderr, "Other:") {
		t.Errorf("serve -h has ungrouped flags:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "\n  --"); n != 16 {
		t.Errorf("serve -h lists %d flags, want 16:\n%s", n, r.stderr)
	}
}

// TestServeSaysWhichDatabase starts serve with a context already ended:
// before anything else it logs the database it opens.
func TestServeSaysWhichDatabase(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stderr bytes.Buffer
	Run(ctx, []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, func(string) string { return "" },
		IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr})
	if want := "database=\"SQLite " + filepath.Join(dir, store.SQLiteFile) + "\""; !strings.Contains(stderr.String(), want) {
		t.Errorf("serve log %q, want %s", stderr.String(), want)
	}
}
