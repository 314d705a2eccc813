package store_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// clock is a settable Options.Now for tests of expiry and ordering.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eachWithClock is storetest.Each with a fake clock injected through
// Options.Now.
func eachWithClock(t *testing.T, fn func(t *testing.T, db *store.DB, clk *clock)) {
	t.Helper()
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s to run it", storetest.EnvPostgresURL)
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := newClock()
			opts := b.Options(t)
			opts.Now = clk.Now
			fn(t, storetest.Open(t, opts), clk)
		})
	}
}

// race runs fn n times concurrently, releasing all goroutines at once, and
// returns the errors in call order.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    store.Options
		wantErr string
		secret  string // must not appear in the error
	}{
		{name: "nothing configured", opts: store.Options{}, wantErr: "no data directory"},
		{name: "unsupported scheme", opts: store.Options{URL: "mysql://steward:hunter2@db/steward"},
			wantErr: "unsupported URL scheme", secret: "hunter2"},
		{name: "sqlite URL", opts: store.Options{URL: "sqlite:///var/lib/steward.db"}, wantErr: "unsupported URL scheme"},
		{name: "unreachable postgres", opts: store.Options{URL: "postgres://steward:hunter2@127.0.0.1:1/steward?connect_timeout=2"},
			wantErr: "connect to postgres database", secret: "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := store.Open(t.Context(), tt.opts)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%+v) succeeded, want error containing %q", tt.opts, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%+v) error = %q, want it to contain %q", tt.opts, err, tt.wantErr)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("Open(%+v) error = %q leaks the password", tt.opts, err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			opts := b.Options(t)
			db := storetest.Open(t, opts)
			if got := db.Dialect(); got != b.Name {
				t.Errorf("Dialect() = %q, want %q", got, b.Name)
			}
			if err := db.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
			if got := db.Stats().MaxOpenConnections; got <= 0 {
				t.Errorf("Stats().MaxOpenConnections = %d, want a bounded pool", got)
			}
			v, err := db.SchemaVersion(t.Context())
			if err != nil {
				t.Fatalf("SchemaVersion: %v", err)
			}
			if v < 1 {
				t.Errorf("SchemaVersion() = %d, want >= 1 after Open", v)
			}

			// Reopening an existing database keeps its data and version.
			if _, err := db.CreateUser(t.Context(), "keep@example.com", "h", store.RoleOwner); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			again := storetest.Open(t, opts)
			if v2, err := again.SchemaVersion(t.Context()); err != nil || v2 != v {
				t.Errorf("SchemaVersion() after reopening = %d, %v; want %d", v2, err, v)
			}
			if _, err := again.UserByEmail(t.Context(), "keep@example.com"); err != nil {
				t.Errorf("UserByEmail after reopening: %v", err)
			}
		})
	}
}

func TestWithTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		errBoom := errors.New("boom")
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			c, err := tx.CreateClient(ctx, "Rolled Back")
			if err != nil {
				return err
			}
			if _, err := tx.CreateSite(ctx, c.ID, "HQ"); err != nil {
				return err
			}
			if _, err := tx.CreateUser(ctx, "rolled@example.com", "h", store.RoleAdmin); err != nil {
				return err
			}
			if err := tx.AddAudit(ctx, store.AuditEntry{Action: "client.create"}); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("WithTx error = %v, want the callback's error", err)
		}
		if _, total, _ := db.ListClients(ctx, store.Page{}); total != 0 {
			t.Errorf("ListClients total after rollback = %d, want 0", total)
		}
		if _, total, _ := db.ListSites(ctx, "", store.Page{}); total != 0 {
			t.Errorf("ListSites total after rollback = %d, want 0", total)
		}
		if has, _ := db.HasUsers(ctx); has {
			t.Errorf("HasUsers() after rollback = true, want false")
		}
		if _, total, _ := db.ListAudit(ctx, store.AuditFilter{}, store.Page{}); total != 0 {
			t.Errorf("ListAudit total after rollback = %d, want 0", total)
		}

		var created store.Client
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			c, err := tx.CreateClient(ctx, "Committed")
			created = c
			if err != nil {
				return err
			}
			// Reads inside the transaction see its own writes.
			n, err := tx.CountUsers(ctx)
			if err != nil || n != 0 {
				return errors.Join(err, errors.New("unexpected user count"))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WithTx: %v", err)
		}
		if _, err := db.Client(ctx, created.ID); err != nil {
			t.Errorf("Client(%s) after commit: %v", created.ID, err)
		}
	})
}

func TestNewID(t *testing.T) {
	t.Parallel()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = store.NewID()
	}
	if !slices.IsSorted(ids) {
		t.Errorf("NewID() values are not time-ordered: %q", ids[:5])
	}
	if n := len(slices.Compact(slices.Clone(ids))); n != len(ids) {
		t.Errorf("NewID() returned %d distinct IDs in %d calls", n, len(ids))
	}
	if len(ids[0]) != 36 {
		t.Errorf("NewID() = %q, want a 36-character UUID", ids[0])
	}
}

func TestPageNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want store.Page }{
		{store.Page{}, store.Page{Limit: 50}},
		{store.Page{Limit: -1, Offset: -5}, store.Page{Limit: 50}},
		{store.Page{Limit: 1, Offset: 3}, store.Page{Limit: 1, Offset: 3}},
		{store.Page{Limit: 500}, store.Page{Limit: 500}},
		{store.Page{Limit: 501, Offset: 10}, store.Page{Limit: 500, Offset: 10}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.in.Normalize()); diff != "" {
			t.Errorf("%+v.Normalize() (-want +got):\n%s", tt.in, diff)
		}
	}
}

func mustClient(t *testing.T, db *store.DB, name string) store.Client {
	t.Helper()
	var c store.Client
	err := db.WithTx(t.Context(), func(tx *store.Tx) error {
		var err error
		c, err = tx.CreateClient(t.Context(), name)
		return err
	})
	if err != nil {
		t.Fatalf("CreateClient(%q): %v", name, err)
	}
	return c
}

func mustSite(t *testing.T, db *store.DB, clientID, name string) store.Site {
	t.Helper()
	var s store.Site
	err := db.WithTx(t.Context(), func(tx *store.Tx) error {
		var err error
		s, err = tx.CreateSite(t.Context(), clientID, name)
		return err
	})
	if err != nil {
		t.Fatalf("CreateSite(%s, %q): %v", clientID, name, err)
	}
	return s
}

// mustToken creates an enrollment token for a site and returns it with the
// hash agents present.
func mustToken(t *testing.T, db *store.DB, siteID string, maxUses int, expiresAt time.Time) (store.EnrollmentToken, string) {
	t.Helper()
	hash := "hash-" + store.NewID()
	tok, err := db.CreateEnrollmentToken(t.Context(), store.EnrollmentToken{
		SiteID: siteID, Prefix: "ste_" + hash[len(hash)-4:], CreatedBy: "test",
		ExpiresAt: expiresAt, MaxUses: maxUses,
	}, hash)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken(site %s): %v", siteID, err)
	}
	return tok, hash
}

// farFuture is an expiry no test clock reaches.
var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// mustEnroll enrolls one agent with the given facts into a site through a
// fresh single-use token.
func mustEnroll(t *testing.T, db *store.DB, siteID string, f protocol.Facts) store.Agent {
	t.Helper()
	_, hash := mustToken(t, db, siteID, 1, farFuture)
	a, err := db.Enroll(t.Context(), hash, store.NewAgent{SecretHash: "secret-" + f.Hostname, Facts: f, IP: "198.51.100.1"})
	if err != nil {
		t.Fatalf("Enroll(%q): %v", f.Hostname, err)
	}
	return a
}

// connect marks an agent online on a replica with a new connection ID,
// which it returns.
func connect(t *testing.T, db *store.DB, a store.Agent, replica string) string {
	t.Helper()
	conn := store.NewID()
	err := db.MarkConnected(t.Context(), store.Connection{AgentID: a.ID, ConnID: conn, ReplicaID: replica,
		RemoteAddr: "203.0.113.9:50000", Facts: factsOf(a)})
	if err != nil {
		t.Fatalf("MarkConnected(%s): %v", a.Hostname, err)
	}
	return conn
}

func factsOf(a store.Agent) protocol.Facts {
	return protocol.Facts{Hostname: a.Hostname, OS: a.OS, OSName: a.OSName, OSVersion: a.OSVersion, Arch: a.Arch,
		Kernel: a.Kernel, AgentVersion: a.Version, BootTime: a.BootTime, IPAddresses: a.IPAddresses, Users: a.Users}
}

// TestClosedDatabase checks that every method reports a failing database
// as an error, not as "not found" or an empty result.
func TestClosedDatabase(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Options{DataDir: t.TempDir()})
	db.Close()
	ctx := t.Context()
	id := store.NewID()
	facts := protocol.Facts{Hostname: "h"}
	calls := map[string]func() error{
		"CreateUser":            func() error { _, err := db.CreateUser(ctx, "a@example.com", "h", store.RoleOwner); return err },
		"CreateFirstUser":       func() error { _, err := db.CreateFirstUser(ctx, "a@example.com", "h", store.RoleOwner); return err },
		"UserByEmail":           func() error { _, err := db.UserByEmail(ctx, "a@example.com"); return err },
		"UserByID":              func() error { _, err := db.UserByID(ctx, id); return err },
		"ListUsers":             func() error { _, err := db.ListUsers(ctx); return err },
		"HasUsers":              func() error { _, err := db.HasUsers(ctx); return err },
		"SetPassword":           func() error { return db.SetPassword(ctx, id, "h") },
		"CreateSession":         func() error { return db.CreateSession(ctx, store.Session{IDHash: "x", UserID: id}) },
		"SessionUser":           func() error { _, _, err := db.SessionUser(ctx, "x"); return err },
		"DeleteSession":         func() error { return db.DeleteSession(ctx, "x") },
		"DeleteExpiredSessions": func() error { _, err := db.DeleteExpiredSessions(ctx); return err },
		"CreateAPIToken":        func() error { _, err := db.CreateAPIToken(ctx, id, "n", "x"); return err },
		"APITokenUser":          func() error { _, _, err := db.APITokenUser(ctx, "x"); return err },
		"Client":                func() error { _, err := db.Client(ctx, id); return err },
		"ListClients":           func() error { _, _, err := db.ListClients(ctx, store.Page{}); return err },
		"Site":                  func() error { _, err := db.Site(ctx, id); return err },
		"ListSites":             func() error { _, _, err := db.ListSites(ctx, "", store.Page{}); return err },
		"CreateEnrollmentToken": func() error {
			_, err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{SiteID: id}, "x")
			return err
		},
		"ListEnrollmentTokens":  func() error { _, err := db.ListEnrollmentTokens(ctx, id); return err },
		"EnrollmentToken":       func() error { _, err := db.EnrollmentToken(ctx, id); return err },
		"RevokeEnrollmentToken": func() error { return db.RevokeEnrollmentToken(ctx, id) },
		"Enroll":                func() error { _, err := db.Enroll(ctx, "x", store.NewAgent{Facts: facts}); return err },
		"Agent":                 func() error { _, err := db.Agent(ctx, id); return err },
		"ListAgents":            func() error { _, _, err := db.ListAgents(ctx, store.AgentFilter{Query: "x"}, store.Page{}); return err },
		"CountAgents":           func() error { _, err := db.CountAgents(ctx); return err },
		"AgentSecretHash":       func() error { _, err := db.AgentSecretHash(ctx, id); return err },
		"MarkConnected":         func() error { return db.MarkConnected(ctx, store.Connection{AgentID: id, Facts: facts}) },
		"UpdateFacts":           func() error { return db.UpdateFacts(ctx, id, facts) },
		"MarkDisconnected":      func() error { _, err := db.MarkDisconnected(ctx, id, "c"); return err },
		"AssertPresence":        func() error { _, err := db.AssertPresence(ctx, []store.Held{{id, "c"}}); return err },
		"MarkStaleOffline":      func() error { _, err := db.MarkStaleOffline(ctx, time.Now()); return err },
		"MarkReplicaOffline":    func() error { _, err := db.MarkReplicaOffline(ctx, "r"); return err },
		"AddAudit":              func() error { return db.AddAudit(ctx, store.AuditEntry{Action: "x"}) },
		"ListAudit":             func() error { _, _, err := db.ListAudit(ctx, store.AuditFilter{Action: "x"}, store.Page{}); return err },
		"SchemaVersion":         func() error { _, err := db.SchemaVersion(ctx); return err },
		"Ping":                  func() error { return db.Ping(ctx) },
		"WithTx":                func() error { return db.WithTx(ctx, func(*store.Tx) error { return nil }) },
	}
	for name, call := range calls {
		err := call()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s on a closed database: error = %v, want a database error", name, err)
		}
	}
}
