// Package cli parses the steward command line and runs its subcommands:
// serve, user create, user api-token, migrate, version.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/server"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/updates"
)

// Version is the server version, set at build time with
// -ldflags "-X github.com/steward-rmm/steward/internal/cli.Version=...".
var Version = "dev"

// Env reads environment variables; os.Getenv in production.
type Env func(string) string

// IO bundles the process's standard streams.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

const usage = `steward: self-hosted remote monitoring and management server

Usage:
  steward serve [--listen ADDR] [--data-dir DIR] [--database-url URL] [--public-url URL] [--nats-url URL]
  steward user create --email E --role owner|admin|technician|readonly [--password-stdin]
  steward user api-token --email E --name N
  steward release keygen|sign|publish|list|key|trust|build   signed agent releases ("steward release -h")
  steward migrate        apply database migrations and exit
  steward version

Every command that opens the database takes --data-dir / --database-url
(or STEWARD_DATA_DIR / STEWARD_DATABASE_URL), says which database it opened
and works while the server runs. Only serve and migrate create a database;
the user commands refuse to, so one run from the wrong directory fails
instead of writing to a new empty database.
Run "steward COMMAND -h" for a command's flags.
`

// errUsage marks errors already explained with usage text.
var errUsage = errors.New("usage")

// Run executes the command line and returns the process exit code.
func Run(ctx context.Context, args []string, env Env, stdio IO) int {
	err := run(ctx, args, env, stdio)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stdio.Stderr, "steward:", err)
	return 1
}

func run(ctx context.Context, args []string, env Env, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprint(stdio.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env, stdio)
	case "user":
		if len(args) < 2 {
			fmt.Fprint(stdio.Stderr, usage)
			return errUsage
		}
		switch args[1] {
		case "create":
			return userCreate(ctx, args[2:], env, stdio)
		case "api-token":
			return userAPIToken(ctx, args[2:], env, stdio)
		}
	case "migrate":
		return migrate(ctx, args[1:], env, stdio)
	case "release":
		return releaseCmd(ctx, args[1:], env, stdio)
	case "version", "--version", "-v":
		fmt.Fprintln(stdio.Stdout, "steward", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdio.Stdout, usage)
		return nil
	}
	fmt.Fprintf(stdio.Stderr, "unknown command %q\n\n%s", strings.Join(args, " "), usage)
	return errUsage
}

// dbFlags are the database selection flags shared by every command.
type dbFlags struct {
	dataDir     string
	databaseURL string
}

func (d *dbFlags) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&d.dataDir, "data-dir", envOr(env, "STEWARD_DATA_DIR", "steward-data"), "`DIR` for the SQLite database and agent binaries (env STEWARD_DATA_DIR)")
	fs.StringVar(&d.databaseURL, "database-url", env("STEWARD_DATABASE_URL"), "postgres:// `URL`; uses PostgreSQL instead of SQLite (env STEWARD_DATABASE_URL)")
}

// errNoDatabase is the refusal of a command that may not create a database.
var errNoDatabase = errors.New("no database")

// open opens the database and says on stderr which one it opened. Only
// serve and migrate may create one (create true): any other command run
// from the wrong directory would otherwise make a new empty database
// there and then fail to find what the user meant.
func (d *dbFlags) open(ctx context.Context, stderr io.Writer, create bool) (*store.DB, error) {
	where := d.describe()
	if d.databaseURL == "" && !create {
		path := filepath.Join(d.dataDir, store.SQLiteFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: give the server's --data-dir or --database-url (env STEWARD_DATA_DIR, STEWARD_DATABASE_URL), "+
				"or create one with \"steward migrate\" (\"steward serve\" creates it on first start)", errNoDatabase, where)
		}
	}
	db, err := store.Open(ctx, store.Options{URL: d.databaseURL, DataDir: d.dataDir})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	fmt.Fprintln(stderr, "database:", where)
	return db, nil
}

// describe names the database for people: the SQLite file's absolute path,
// or the PostgreSQL host and database without credentials.
func (d *dbFlags) describe() string {
	if d.databaseURL == "" {
		path := filepath.Join(d.dataDir, store.SQLiteFile)
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return "SQLite " + path
	}
	u, err := url.Parse(d.databaseURL)
	if err != nil || u.Host == "" {
		return "PostgreSQL (from --database-url)"
	}
	return "PostgreSQL " + u.Host + u.Path
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func envOr(env Env, key, def string) string {
	if v := env(key); v != "" {
		return v
	}
	return def
}

func newFlagSet(name string, stdio IO) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return errUsage
	}
	return nil
}

func serve(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("serve", stdio)
	var (
		cfg      server.Config
		db       dbFlags
		logLevel string
		logJSON  bool
	)
	db.register(fs, env)
	fs.StringVar(&cfg.Listen, "listen", envOr(env, "STEWARD_LISTEN", ":8080"), "listen on `ADDR`, e.g. :8080 or 127.0.0.1:8080 (env STEWARD_LISTEN)")
	fs.StringVar(&cfg.NATSURL, "nats-url", env("STEWARD_NATS_URL"), "nats:// `URL` of the bus that joins several replicas on one PostgreSQL database (env STEWARD_NATS_URL)")
	fs.StringVar(&cfg.PublicURL, "public-url", env("STEWARD_PUBLIC_URL"), "`URL` agents and browsers use to reach this server, put in install commands; default http://localhost:PORT, which other machines cannot reach (env STEWARD_PUBLIC_URL)")
	fs.StringVar(&cfg.AgentDir, "agent-dir", env("STEWARD_AGENT_DIR"), "`DIR` of agent binaries served for download; default DATA_DIR/agents (env STEWARD_AGENT_DIR)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", envDuration(env, "STEWARD_HEARTBEAT", 30*time.Second), "agent heartbeat `interval`; agents silent for 3 intervals are offline (env STEWARD_HEARTBEAT)")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", env("STEWARD_TRUST_PROXY") == "true", "trust X-Forwarded-For/-Proto from a reverse proxy (env STEWARD_TRUST_PROXY)")
	fs.StringVar(&cfg.DebugListen, "debug-listen", env("STEWARD_DEBUG_LISTEN"), "serve Go pprof profiles on this `ADDR`, e.g. 127.0.0.1:6060 (env STEWARD_DEBUG_LISTEN)")
	fs.Func("release-key", "trust this release public `KEY` (its text or a file of keys) for agent updates; repeat for several (env STEWARD_RELEASE_KEYS, comma-separated)",
		func(v string) error { cfg.ReleaseKeys = append(cfg.ReleaseKeys, v); return nil })
	fs.DurationVar(&cfg.RolloutEvery, "rollout-every", envDuration(env, "STEWARD_ROLLOUT_EVERY", 30*time.Second), "how often the automatic update rollout offers the next batch; jobs are checked once per --heartbeat, so less acts as that (env STEWARD_ROLLOUT_EVERY)")
	fs.IntVar(&cfg.RolloutBatch, "rollout-batch", envInt(env, "STEWARD_ROLLOUT_BATCH", updates.RolloutBatch), "agents offered a release per rollout run (env STEWARD_ROLLOUT_BATCH)")
	fs.DurationVar(&cfg.RolloutSpread, "rollout-spread", envDuration(env, "STEWARD_ROLLOUT_SPREAD", updates.RolloutSpread), "agents of one batch spread their downloads over this long (env STEWARD_ROLLOUT_SPREAD)")
	fs.IntVar(&cfg.ConfirmAbove, "confirm-above", envInt(env, "STEWARD_CONFIRM_ABOVE", jobs.DefaultConfirmAbove), "a script job or bulk action on more than this many agents asks for confirmation of the count; 0 never asks (env STEWARD_CONFIRM_ABOVE)")
	fs.StringVar(&logLevel, "log-level", envOr(env, "STEWARD_LOG_LEVEL", "info"), "`LEVEL`: debug, info, warn or error (env STEWARD_LOG_LEVEL)")
	fs.BoolVar(&logJSON, "log-json", env("STEWARD_LOG_JSON") == "true", "log JSON lines instead of text (env STEWARD_LOG_JSON)")
	fs.Usage = groupedUsage(fs, "steward serve [flags]",
		"Runs the server: the dashboard, the JSON API and the agent gateway on one address.\n"+
			"Creates the database and runs its migrations on first start.",
		serveFlagGroups)
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(cfg.ReleaseKeys) == 0 {
		cfg.ReleaseKeys = splitList(env("STEWARD_RELEASE_KEYS"))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	var h slog.Handler = slog.NewTextHandler(stdio.Stderr, &slog.HandlerOptions{Level: level})
	if logJSON {
		h = slog.NewJSONHandler(stdio.Stderr, &slog.HandlerOptions{Level: level})
	}
	cfg.DataDir, cfg.DatabaseURL, cfg.Version = db.dataDir, db.databaseURL, Version
	log := slog.New(h)
	// Say which database, as the other commands do: a server started from
	// another directory otherwise quietly makes a new one there.
	log.Info("opening database", "database", db.describe())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// flagGroup is a heading of a command's help and the flags under it.
type flagGroup struct {
	title string
	flags []string
}

// serveFlagGroups orders "steward serve -h" by what an operator sets up.
var serveFlagGroups = []flagGroup{
	{"Where the server listens and how it is reached", []string{"listen", "public-url", "trust-proxy"}},
	{"Storage", []string{"data-dir", "database-url", "agent-dir"}},
	{"Several replicas", []string{"nats-url"}},
	{"Agents", []string{"heartbeat", "release-key", "confirm-above"}},
	{"Agent updates", []string{"rollout-every", "rollout-batch", "rollout-spread"}},
	{"Logs and debugging", []string{"log-level", "log-json", "debug-listen"}},
}

// groupedUsage prints a command's flags under headings, each with its
// description and default, instead of the flag package's flat dump.
func groupedUsage(fs *flag.FlagSet, synopsis, about string, groups []flagGroup) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, about)
		// A flag nobody put in a group still shows, under "Other".
		grouped := map[string]bool{}
		for _, g := range groups {
			for _, f := range g.flags {
				grouped[f] = true
			}
		}
		var other []string
		fs.VisitAll(func(f *flag.Flag) {
			if !grouped[f.Name] {
				other = append(other, f.Name)
			}
		})
		if len(other) > 0 {
			groups = append(groups[:len(groups):len(groups)], flagGroup{"Other", other})
		}
		for _, g := range groups {
			fmt.Fprintf(w, "\n%s:\n", g.title)
			for _, name := range g.flags {
				f := fs.Lookup(name)
				if f == nil {
					continue
				}
				arg, help := flag.UnquoteUsage(f)
				head := "  --" + f.Name
				if arg != "" {
					head += " " + arg
				}
				fmt.Fprintf(w, "%-28s %s", head, help)
				if f.DefValue != "" && f.DefValue != "false" {
					fmt.Fprintf(w, " [default %s]", f.DefValue)
				}
				fmt.Fprintln(w)
			}
		}
	}
}

func envInt(env Env, key string, def int) int {
	if v := env(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envDuration(env Env, key string, def time.Duration) time.Duration {
	if v := env(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func migrate(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("migrate", stdio)
	var db dbFlags
	db.register(fs, env)
	if err := parse(fs, args); err != nil {
		return err
	}
	d, err := db.open(ctx, stdio.Stderr, true)
	if err != nil {
		return err
	}
	defer d.Close()
	v, err := d.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "%s database at schema version %d\n", d.Dialect(), v)
	return nil
}

func userCreate(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("user create", stdio)
	var (
		db            dbFlags
		email, role   string
		passwordStdin bool
	)
	db.register(fs, env)
	fs.StringVar(&email, "email", "", "email address (login name)")
	fs.StringVar(&role, "role", "", "owner, admin, technician or readonly")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of generating one")
	if err := parse(fs, args); err != nil {
		return err
	}
	if email == "" || role == "" {
		fmt.Fprintln(stdio.Stderr, "user create: --email and --role are required")
		return errUsage
	}
	r, err := store.ParseRole(role)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	password, generated := "", false
	if passwordStdin {
		line, err := bufio.NewReader(stdio.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			return errors.New("--password-stdin: standard input held no password")
		}
	} else {
		password, generated = auth.GeneratePassword(), true
	}
	d, err := db.open(ctx, stdio.Stderr, false)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := manage.New(d).CreateUser(ctx, access.Console(), email, password, r)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("a user with email %s already exists", store.NormalizeEmail(email))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "created %s user %s (id %s)\n", u.Role, u.Email, u.ID)
	if generated {
		fmt.Fprintf(stdio.Stdout, "password: %s\n", password)
	}
	return nil
}

func userAPIToken(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("user api-token", stdio)
	var (
		db          dbFlags
		email, name string
	)
	db.register(fs, env)
	fs.StringVar(&email, "email", "", "the user the token acts as")
	fs.StringVar(&name, "name", "", "a name for the token, e.g. the integration using it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if email == "" || name == "" {
		fmt.Fprintln(stdio.Stderr, "user api-token: --email and --name are required")
		return errUsage
	}
	d, err := db.open(ctx, stdio.Stderr, false)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user with email %s", store.NormalizeEmail(email))
	}
	if err != nil {
		return err
	}
	secret, _, err := manage.New(d).CreateAPIToken(ctx, access.Console(), u.ID, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdio.Stderr, "API token for", u.Email, "(shown once; only its hash is stored):")
	fmt.Fprintln(stdio.Stdout, secret)
	return nil
}

// Main is what cmd/steward calls.
func Main() int {
	ctx, stop := signalContext()
	defer stop()
	return Run(ctx, os.Args[1:], os.Getenv, IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
}
