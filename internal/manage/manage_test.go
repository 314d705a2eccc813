package manage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

const goodPassword = "correct horse battery"

var roles = []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleTechnician, store.RoleReadonly}

// fixture is a database with one user of every role, a client and a site.
type fixture struct {
	db    *store.DB
	svc   *manage.Service
	users map[store.Role]store.User
	// other is a second technician, a target for delegated tokens.
	other  store.User
	client store.Client
	site   store.Site
}

// principal is how a user of role appears when logged in to the dashboard.
func (f *fixture) principal(role store.Role) access.Principal {
	return access.Principal{User: f.users[role], Via: "session", SessionHash: "h", IP: "192.0.2.10"}
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{db: db, svc: manage.New(db), users: map[store.Role]store.User{}}
	// The owner comes through the setup link, as on a fresh install.
	owner, err := f.svc.CreateFirstOwner(ctx, "203.0.113.1", " Owner@Example.com ", goodPassword)
	if err != nil {
		t.Fatalf("CreateFirstOwner: %v", err)
	}
	f.users[store.RoleOwner] = owner
	for _, r := range roles[1:] {
		// manage never checks passwords, so skip argon2 for speed.
		u, err := db.CreateUser(ctx, string(r)+"@example.com", "fake-hash", r)
		if err != nil {
			t.Fatalf("CreateUser(%s): %v", r, err)
		}
		f.users[r] = u
	}
	if f.other, err = db.CreateUser(ctx, "other@example.com", "fake-hash", store.RoleTechnician); err != nil {
		t.Fatalf("CreateUser(other): %v", err)
	}
	if f.client, err = f.svc.CreateClient(ctx, access.Console(), "Fixture Client"); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if f.site, err = f.svc.CreateSite(ctx, access.Console(), f.client.ID, "Fixture Site"); err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	return f
}

// enroll adds an agent named host to site, as the enrollment endpoint
// would.
func (f *fixture) enroll(t *testing.T, site store.Site, host string) store.Agent {
	t.Helper()
	ctx := t.Context()
	secret, _, err := f.svc.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.db.Enroll(ctx, auth.HashSecret(secret), store.NewAgent{SecretHash: auth.HashSecret(auth.NewSecret("")), Facts: protocol.Facts{Hostname: host}})
	if err != nil {
		t.Fatalf("enroll %s: %v", host, err)
	}
	return a
}

// policy creates a policy with the document doc.
func (f *fixture) policy(t *testing.T, name, doc string) store.Policy {
	t.Helper()
	p, err := f.svc.CreatePolicy(t.Context(), access.Console(), manage.PolicyInput{Name: name, Document: json.RawMessage(doc)})
	if err != nil {
		t.Fatalf("create policy %s: %v", name, err)
	}
	return p
}

// auditFor returns the audit entries about target, newest first.
func (f *fixture) auditFor(t *testing.T, action, target string) []store.AuditEntry {
	t.Helper()
	entries, _, err := f.db.ListAudit(t.Context(), store.AuditFilter{Action: action, TargetID: target}, store.Page{Limit: 500})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return entries
}

func (f *fixture) auditCount(t *testing.T) int {
	t.Helper()
	_, total, err := f.db.ListAudit(t.Context(), store.AuditFilter{}, store.Page{Limit: 1})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return total
}

func TestManage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		t.Run("Permissions", func(t *testing.T) { testPermissions(t, f) })
		t.Run("Validation", func(t *testing.T) { testValidation(t, f) })
		t.Run("Audit", func(t *testing.T) { testAudit(t, f) })
		t.Run("Conflicts", func(t *testing.T) { testConflicts(t, f) })
		t.Run("NotFound", func(t *testing.T) { testNotFound(t, f) })
		t.Run("EnrollmentTokens", func(t *testing.T) { testEnrollmentTokens(t, f) })
		t.Run("Users", func(t *testing.T) { testUsers(t, f) })
		t.Run("APITokens", func(t *testing.T) { testAPITokens(t, f) })
	})
}

func testPermissions(t *testing.T, f *fixture) {
	ctx := t.Context()
	// n makes names unique across roles and calls.
	n := 0
	next := func() int { n++; return n }
	uniq := func(s string) string { return fmt.Sprintf("%s %d", s, next()) }
	newToken := func(t *testing.T) string {
		_, tok, err := f.svc.CreateEnrollmentToken(ctx, access.Console(), f.site.ID, time.Hour, 0)
		if err != nil {
			t.Fatalf("CreateEnrollmentToken: %v", err)
		}
		return tok.ID
	}
	methods := []struct {
		name    string
		allowed []store.Role
		// noConsole skips the console, which has no user of its own.
		noConsole bool
		// setup prepares an argument before the audit log is counted.
		setup func(t *testing.T) string
		call  func(t *testing.T, p access.Principal, arg string) error
	}{
		{name: "CreateClient", allowed: []store.Role{store.RoleOwner, store.RoleAdmin},
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, err := f.svc.CreateClient(ctx, p, uniq("Client"))
				return err
			}},
		{name: "CreateSite", allowed: []store.Role{store.RoleOwner, store.RoleAdmin},
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, err := f.svc.CreateSite(ctx, p, f.client.ID, uniq("Site"))
				return err
			}},
		{name: "CreateEnrollmentToken", allowed: []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleTechnician},
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, _, err := f.svc.CreateEnrollmentToken(ctx, p, f.site.ID, 24*time.Hour, 5)
				return err
			}},
		{name: "RevokeEnrollmentToken", allowed: []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleTechnician}, setup: newToken,
			call: func(t *testing.T, p access.Principal, tokenID string) error {
				_, err := f.svc.RevokeEnrollmentToken(ctx, p, tokenID)
				return err
			}},
		{name: "CreateUser", allowed: []store.Role{store.RoleOwner, store.RoleAdmin},
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, err := f.svc.CreateUser(ctx, p, fmt.Sprintf("tech%d@example.com", next()), goodPassword, store.RoleTechnician)
				return err
			}},
		{name: "CreateUser owner", allowed: []store.Role{store.RoleOwner},
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, err := f.svc.CreateUser(ctx, p, fmt.Sprintf("owner%d@example.com", next()), goodPassword, store.RoleOwner)
				return err
			}},
		{name: "CreateAPIToken for self", allowed: roles, noConsole: true,
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, _, err := f.svc.CreateAPIToken(ctx, p, p.User.ID, "mine")
				return err
			}},
		{name: "CreateAPIToken for another technician", allowed: []store.Role{store.RoleOwner, store.RoleAdmin},
			call: func(t *testing.T, p access.Principal, _ string) error {
				_, _, err := f.svc.CreateAPIToken(ctx, p, f.other.ID, "delegated")
				return err
			}},
		{name: "CreateAPIToken for the owner", allowed: []store.Role{store.RoleOwner},
			call: func(t *testing.T, p access.Principal, _ string) error {
				// A token acts with its user's role, so minting one for an
				// owner is as good as creating an owner.
				_, _, err := f.svc.CreateAPIToken(ctx, p, f.users[store.RoleOwner].ID, "escalation")
				return err
			}},
	}
	for _, m := range methods {
		for _, role := range roles {
			t.Run(m.name+"/"+string(role), func(t *testing.T) {
				want := false
				for _, r := range m.allowed {
					want = want || r == role
				}
				p := f.principal(role)
				if role == store.RoleOwner && m.name == "CreateAPIToken for self" {
					p.Via = "api_token" // tokens may mint tokens for their own user too
				}
				var arg string
				if m.setup != nil {
					arg = m.setup(t)
				}
				before := f.auditCount(t)
				err := m.call(t, p, arg)
				after := f.auditCount(t)
				switch {
				case want && err != nil:
					t.Errorf("%s as %s: %v, want success", m.name, role, err)
				case !want && !errors.Is(err, access.ErrForbidden):
					t.Errorf("%s as %s: error = %v, want access.ErrForbidden", m.name, role, err)
				case !want && after != before:
					t.Errorf("%s as %s was refused but wrote %d audit entries", m.name, role, after-before)
				}
			})
		}
		if m.noConsole {
			continue
		}
		t.Run(m.name+"/console", func(t *testing.T) {
			var arg string
			if m.setup != nil {
				arg = m.setup(t)
			}
			if err := m.call(t, access.Console(), arg); err != nil {
				t.Errorf("%s as console: %v, want success", m.name, err)
			}
		})
	}

	t.Run("PermissionBeforeValidation", func(t *testing.T) {
		// A refused caller learns nothing about its input.
		p := f.principal(store.RoleReadonly)
		checks := map[string]error{}
		_, checks["CreateClient"] = f.svc.CreateClient(ctx, p, "")
		_, checks["CreateSite"] = f.svc.CreateSite(ctx, p, "no-such-client", "")
		_, _, checks["CreateEnrollmentToken"] = f.svc.CreateEnrollmentToken(ctx, p, "no-such-site", 0, -1)
		_, checks["RevokeEnrollmentToken"] = f.svc.RevokeEnrollmentToken(ctx, p, "no-such-token")
		_, checks["CreateUser"] = f.svc.CreateUser(ctx, p, "bad", "short", "bogus")
		_, _, checks["CreateAPIToken"] = f.svc.CreateAPIToken(ctx, p, f.users[store.RoleAdmin].ID, "")
		for name, err := range checks {
			if !errors.Is(err, access.ErrForbidden) {
				t.Errorf("%s as readonly with bad input: error = %v, want access.ErrForbidden", name, err)
			}
		}
	})

	t.Run("UnknownRoleHasNoPermission", func(t *testing.T) {
		p := access.Principal{User: store.User{ID: "x", Role: "superuser"}, Via: "api_token"}
		if _, err := f.svc.CreateClient(ctx, p, "Never"); !errors.Is(err, access.ErrForbidden) {
			t.Errorf("CreateClient by an unknown role: error = %v, want access.ErrForbidden", err)
		}
	})
}

func testValidation(t *testing.T, f *fixture) {
	ctx := t.Context()
	p := f.principal(store.RoleOwner)
	tests := []struct {
		name      string
		call      func() error
		wantField string // "" means the call must succeed
	}{
		{"client empty", func() error { _, err := f.svc.CreateClient(ctx, p, ""); return err }, "name"},
		{"client blank", func() error { _, err := f.svc.CreateClient(ctx, p, " \t "); return err }, "name"},
		{"client 101 characters", func() error { _, err := f.svc.CreateClient(ctx, p, strings.Repeat("x", 101)); return err }, "name"},
		{"client 100 multibyte characters", func() error { _, err := f.svc.CreateClient(ctx, p, strings.Repeat("é", 100)); return err }, ""},
		{"client newline", func() error { _, err := f.svc.CreateClient(ctx, p, "Acme\nInc"); return err }, "name"},
		{"client NUL", func() error { _, err := f.svc.CreateClient(ctx, p, "Acme\x00"); return err }, "name"},
		{"client DEL", func() error { _, err := f.svc.CreateClient(ctx, p, "Acme\x7f"); return err }, "name"},
		{"client invalid UTF-8", func() error { _, err := f.svc.CreateClient(ctx, p, "Acme \xff"); return err }, "name"},
		{"site empty", func() error { _, err := f.svc.CreateSite(ctx, p, f.client.ID, ""); return err }, "name"},
		{"site tab", func() error { _, err := f.svc.CreateSite(ctx, p, f.client.ID, "HQ\tEast"); return err }, "name"},
		{"site too long", func() error {
			_, err := f.svc.CreateSite(ctx, p, f.client.ID, strings.Repeat("s", 101))
			return err
		}, "name"},
		{"token lifetime 59s", func() error { return createToken(ctx, f, p, 59*time.Second, 0) }, "expires_in"},
		{"token lifetime zero", func() error { return createToken(ctx, f, p, 0, 0) }, "expires_in"},
		{"token lifetime negative", func() error { return createToken(ctx, f, p, -time.Hour, 0) }, "expires_in"},
		{"token lifetime over a year", func() error { return createToken(ctx, f, p, manage.MaxTokenLifetime+time.Millisecond, 0) }, "expires_in"},
		{"token lifetime 1m", func() error { return createToken(ctx, f, p, time.Minute, 0) }, ""},
		{"token lifetime one year", func() error { return createToken(ctx, f, p, manage.MaxTokenLifetime, 0) }, ""},
		{"token uses negative", func() error { return createToken(ctx, f, p, time.Hour, -1) }, "max_uses"},
		{"token uses too many", func() error { return createToken(ctx, f, p, time.Hour, manage.MaxTokenUses+1) }, "max_uses"},
		{"token uses maximum", func() error { return createToken(ctx, f, p, time.Hour, manage.MaxTokenUses) }, ""},
		{"user email empty", func() error { return createUser(ctx, f, p, "", goodPassword, store.RoleReadonly) }, "email"},
		{"user email no at", func() error { return createUser(ctx, f, p, "example.com", goodPassword, store.RoleReadonly) }, "email"},
		{"user email no local part", func() error { return createUser(ctx, f, p, "@example.com", goodPassword, store.RoleReadonly) }, "email"},
		{"user email no domain", func() error { return createUser(ctx, f, p, "bob@", goodPassword, store.RoleReadonly) }, "email"},
		{"user email space", func() error { return createUser(ctx, f, p, "bob smith@example.com", goodPassword, store.RoleReadonly) }, "email"},
		{"user email angle brackets", func() error { return createUser(ctx, f, p, "<bob@example.com>", goodPassword, store.RoleReadonly) }, "email"},
		{"user email too long", func() error {
			return createUser(ctx, f, p, strings.Repeat("b", 250)+"@x.io", goodPassword, store.RoleReadonly)
		}, "email"},
		{"user password short", func() error { return createUser(ctx, f, p, "short@example.com", "123456789", store.RoleReadonly) }, "password"},
		{"user password empty", func() error { return createUser(ctx, f, p, "empty@example.com", "", store.RoleReadonly) }, "password"},
		{"user password too long", func() error {
			return createUser(ctx, f, p, "long@example.com", strings.Repeat("p", auth.MaxPasswordLen+1), store.RoleReadonly)
		}, "password"},
		{"user unknown role", func() error { return createUser(ctx, f, p, "role@example.com", goodPassword, "superuser") }, "role"},
		{"user empty role", func() error { return createUser(ctx, f, p, "norole@example.com", goodPassword, "") }, "role"},
		{"api token empty name", func() error {
			_, _, err := f.svc.CreateAPIToken(ctx, p, p.User.ID, "  ")
			return err
		}, "name"},
		{"api token control character", func() error {
			_, _, err := f.svc.CreateAPIToken(ctx, p, p.User.ID, "c\ri")
			return err
		}, "name"},
		{"first owner bad email", func() error {
			_, err := f.svc.CreateFirstOwner(ctx, "203.0.113.1", "nobody", goodPassword)
			return err
		}, "email"},
		{"first owner short password", func() error {
			_, err := f.svc.CreateFirstOwner(ctx, "203.0.113.1", "first@example.com", "short")
			return err
		}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.auditCount(t)
			err := tt.call()
			if tt.wantField == "" {
				if err != nil {
					t.Errorf("got error %v, want success", err)
				}
				return
			}
			var inv *input.Error
			if !errors.As(err, &inv) {
				t.Fatalf("got error %v (%T), want *input.Error for %q", err, err, tt.wantField)
			}
			if inv.Field != tt.wantField {
				t.Errorf("input.Error.Field = %q, want %q (error %q)", inv.Field, tt.wantField, err)
			}
			if !strings.HasPrefix(inv.Error(), tt.wantField+": ") || inv.Message == "" {
				t.Errorf("input.Error.Error() = %q, want %q followed by a message", inv.Error(), tt.wantField+": ")
			}
			if after := f.auditCount(t); after != before {
				t.Errorf("invalid input wrote %d audit entries, want 0", after-before)
			}
		})
	}

	t.Run("NamesAreTrimmed", func(t *testing.T) {
		c, err := f.svc.CreateClient(ctx, p, "  Trimmed Client \t")
		if err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		if c.Name != "Trimmed Client" {
			t.Errorf("CreateClient name = %q, want %q", c.Name, "Trimmed Client")
		}
		stored, err := f.db.Client(ctx, c.ID)
		if err != nil {
			t.Fatalf("Client: %v", err)
		}
		if stored.Name != "Trimmed Client" {
			t.Errorf("stored client name = %q, want %q", stored.Name, "Trimmed Client")
		}
		s, err := f.svc.CreateSite(ctx, p, c.ID, " Branch ")
		if err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		if s.Name != "Branch" || s.ClientID != c.ID || s.ClientName != "Trimmed Client" {
			t.Errorf("CreateSite = %+v, want name Branch in client %s (Trimmed Client)", s, c.ID)
		}
	})
}

func createToken(ctx context.Context, f *fixture, p access.Principal, d time.Duration, uses int) error {
	_, _, err := f.svc.CreateEnrollmentToken(ctx, p, f.site.ID, d, uses)
	return err
}

func createUser(ctx context.Context, f *fixture, p access.Principal, email, pw string, role store.Role) error {
	_, err := f.svc.CreateUser(ctx, p, email, pw, role)
	return err
}

func testAudit(t *testing.T, f *fixture) {
	ctx := t.Context()
	admin := f.users[store.RoleAdmin]
	session := f.principal(store.RoleAdmin)
	token := access.Principal{User: admin, Via: "api_token", TokenID: "tok", IP: "198.51.100.20"}
	ignore := cmpopts.IgnoreFields(store.AuditEntry{}, "ID", "At")

	check := func(t *testing.T, action, target string, want store.AuditEntry) {
		t.Helper()
		got := f.auditFor(t, action, target)
		if len(got) != 1 {
			t.Fatalf("audit entries for %s on %s = %d, want 1: %+v", action, target, len(got), got)
		}
		want.Action, want.TargetID = action, target
		if diff := cmp.Diff(want, got[0], ignore); diff != "" {
			t.Errorf("audit entry for %s (-want +got):\n%s", action, diff)
		}
		if age := time.Since(got[0].At); age < -time.Second || age > time.Minute {
			t.Errorf("audit entry time %v is %v from now, want about now", got[0].At, age)
		}
	}

	t.Run("FirstOwner", func(t *testing.T) {
		owner := f.users[store.RoleOwner]
		check(t, "user.create", owner.ID, store.AuditEntry{
			ActorType: "setup", ActorID: owner.ID, ActorName: "setup link", TargetType: "user",
			Detail: map[string]string{"email": "owner@example.com", "role": "owner"}, IP: "203.0.113.1",
		})
	})

	var c store.Client
	t.Run("CreateClient", func(t *testing.T) {
		var err error
		if c, err = f.svc.CreateClient(ctx, session, "Audited Client"); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		check(t, "client.create", c.ID, store.AuditEntry{
			ActorType: "user", ActorID: admin.ID, ActorName: admin.Email, TargetType: "client",
			Detail: map[string]string{"name": "Audited Client"}, IP: "192.0.2.10",
		})
	})

	var site store.Site
	t.Run("CreateSite", func(t *testing.T) {
		var err error
		if site, err = f.svc.CreateSite(ctx, token, c.ID, "Audited Site"); err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		check(t, "site.create", site.ID, store.AuditEntry{
			ActorType: "api_token", ActorID: admin.ID, ActorName: admin.Email + " (api token)", TargetType: "site",
			Detail: map[string]string{"name": "Audited Site", "client_id": c.ID, "client": "Audited Client"}, IP: "198.51.100.20",
		})
	})

	t.Run("EnrollmentToken", func(t *testing.T) {
		tech := f.principal(store.RoleTechnician)
		_, tok, err := f.svc.CreateEnrollmentToken(ctx, tech, site.ID, 48*time.Hour, 3)
		if err != nil {
			t.Fatalf("CreateEnrollmentToken: %v", err)
		}
		techUser := f.users[store.RoleTechnician]
		check(t, "enrollment_token.create", site.ID, store.AuditEntry{
			ActorType: "user", ActorID: techUser.ID, ActorName: techUser.Email, TargetType: "site",
			Detail: map[string]string{
				"token_id": tok.ID, "prefix": tok.Prefix, "max_uses": "3", "expires_at": tok.ExpiresAt.Format(time.RFC3339),
			},
			IP: "192.0.2.10",
		})
		if _, err := f.svc.RevokeEnrollmentToken(ctx, access.Console(), tok.ID); err != nil {
			t.Fatalf("RevokeEnrollmentToken: %v", err)
		}
		check(t, "enrollment_token.revoke", site.ID, store.AuditEntry{
			ActorType: "console", ActorName: "console", TargetType: "site",
			Detail: map[string]string{"token_id": tok.ID, "prefix": tok.Prefix}, IP: "local",
		})
	})

	var newUser store.User
	t.Run("CreateUser", func(t *testing.T) {
		u, err := f.svc.CreateUser(ctx, session, "Audited@Example.com", goodPassword, store.RoleReadonly)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		check(t, "user.create", u.ID, store.AuditEntry{
			ActorType: "user", ActorID: admin.ID, ActorName: admin.Email, TargetType: "user",
			Detail: map[string]string{"email": "audited@example.com", "role": "readonly"}, IP: "192.0.2.10",
		})
		if strings.Contains(fmt.Sprint(f.auditFor(t, "user.create", u.ID)), goodPassword) {
			t.Error("the audit entry contains the password")
		}
		newUser = u
	})

	t.Run("CreateAPIToken", func(t *testing.T) {
		secret, tok, err := f.svc.CreateAPIToken(ctx, session, newUser.ID, "Audited token")
		if err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		check(t, "api_token.create", newUser.ID, store.AuditEntry{
			ActorType: "user", ActorID: admin.ID, ActorName: admin.Email, TargetType: "user",
			Detail: map[string]string{"token_id": tok.ID, "name": "Audited token"}, IP: "192.0.2.10",
		})
		if strings.Contains(fmt.Sprint(f.auditFor(t, "api_token.create", newUser.ID)), secret) {
			t.Error("the audit entry contains the token secret")
		}
	})
}

func testConflicts(t *testing.T, f *fixture) {
	ctx := t.Context()
	p := f.principal(store.RoleAdmin)
	if _, err := f.svc.CreateClient(ctx, p, "Conflict Co"); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	other, err := f.svc.CreateClient(ctx, p, "Other Co")
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if _, err := f.svc.CreateSite(ctx, p, f.client.ID, "Shared Name"); err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	tests := []struct {
		name string
		call func() error
		want error // nil means success
	}{
		{"client same name", func() error { _, err := f.svc.CreateClient(ctx, p, "Conflict Co"); return err }, store.ErrConflict},
		{"client other case", func() error { _, err := f.svc.CreateClient(ctx, p, "CONFLICT co"); return err }, store.ErrConflict},
		{"client after trimming", func() error { _, err := f.svc.CreateClient(ctx, p, " Conflict Co "); return err }, store.ErrConflict},
		{"site same name same client", func() error {
			_, err := f.svc.CreateSite(ctx, p, f.client.ID, "shared name")
			return err
		}, store.ErrConflict},
		{"site same name other client", func() error {
			_, err := f.svc.CreateSite(ctx, p, other.ID, "Shared Name")
			return err
		}, nil},
		{"user same email", func() error {
			return createUser(ctx, f, p, "READONLY@example.com ", goodPassword, store.RoleReadonly)
		}, store.ErrConflict},
		{"second first owner", func() error {
			_, err := f.svc.CreateFirstOwner(ctx, "203.0.113.2", "intruder@example.com", goodPassword)
			return err
		}, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.auditCount(t)
			err := tt.call()
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if after := f.auditCount(t); tt.want != nil && after != before {
				t.Errorf("a conflict wrote %d audit entries, want 0", after-before)
			}
		})
	}
	if _, err := f.db.UserByEmail(ctx, "intruder@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByEmail(intruder) error = %v, want ErrNotFound", err)
	}
}

func testNotFound(t *testing.T, f *fixture) {
	ctx := t.Context()
	p := f.principal(store.RoleOwner)
	checks := map[string]error{}
	_, checks["CreateSite"] = f.svc.CreateSite(ctx, p, store.NewID(), "Nowhere")
	_, _, checks["CreateEnrollmentToken"] = f.svc.CreateEnrollmentToken(ctx, p, store.NewID(), time.Hour, 0)
	_, checks["RevokeEnrollmentToken"] = f.svc.RevokeEnrollmentToken(ctx, p, store.NewID())
	_, _, checks["CreateAPIToken"] = f.svc.CreateAPIToken(ctx, p, store.NewID(), "ghost")
	for name, err := range checks {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with an unknown id: error = %v, want store.ErrNotFound", name, err)
		}
	}
}

func testEnrollmentTokens(t *testing.T, f *fixture) {
	ctx := t.Context()
	tech := f.principal(store.RoleTechnician)
	start := time.Now()
	secret, tok, err := f.svc.CreateEnrollmentToken(ctx, tech, f.site.ID, 2*time.Hour, 1)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	if !strings.HasPrefix(secret, auth.PrefixEnrollment) || len(secret) < 40 {
		t.Errorf("token secret = %q, want %s and a long random part", secret, auth.PrefixEnrollment)
	}
	if tok.Prefix != secret[:len(auth.PrefixEnrollment)+6] {
		t.Errorf("token prefix = %q, want the first %d characters of the secret", tok.Prefix, len(auth.PrefixEnrollment)+6)
	}
	if tok.SiteID != f.site.ID || tok.MaxUses != 1 || tok.Uses != 0 || tok.CreatedBy != f.users[store.RoleTechnician].Email {
		t.Errorf("token = %+v, want site %s, 1 use, none used, created by %s", tok, f.site.ID, f.users[store.RoleTechnician].Email)
	}
	if lo, hi := start.Add(2*time.Hour-time.Second), time.Now().Add(2*time.Hour+time.Second); tok.ExpiresAt.Before(lo) || tok.ExpiresAt.After(hi) {
		t.Errorf("token expires at %v, want 2h from now", tok.ExpiresAt)
	}
	if got := tok.State(time.Now()); got != "active" {
		t.Errorf("new token state = %q, want active", got)
	}
	stored, err := f.db.ListEnrollmentTokens(ctx, f.site.ID)
	if err != nil {
		t.Fatalf("ListEnrollmentTokens: %v", err)
	}
	if strings.Contains(fmt.Sprint(stored), secret) {
		t.Error("the stored token contains the secret in clear")
	}

	// The clear secret enrolls, as the gateway will do with it.
	if _, err := f.db.Enroll(ctx, auth.HashSecret(secret), store.NewAgent{
		SecretHash: auth.HashSecret("agent"), Facts: protocol.Facts{Hostname: "host-1", OS: "linux"},
	}); err != nil {
		t.Fatalf("Enroll with the new token: %v", err)
	}

	// Revoking twice is harmless and audited once.
	revoked, err := f.svc.RevokeEnrollmentToken(ctx, tech, tok.ID)
	if err != nil {
		t.Fatalf("RevokeEnrollmentToken: %v", err)
	}
	if revoked.RevokedAt.IsZero() || revoked.State(time.Now()) != "revoked" || revoked.Uses != 1 {
		t.Errorf("revoked token = %+v, want revoked_at set, state revoked, 1 use", revoked)
	}
	again, err := f.svc.RevokeEnrollmentToken(ctx, f.principal(store.RoleAdmin), tok.ID)
	if err != nil {
		t.Fatalf("second RevokeEnrollmentToken: %v", err)
	}
	if !again.RevokedAt.Equal(revoked.RevokedAt) {
		t.Errorf("second revoke changed revoked_at from %v to %v", revoked.RevokedAt, again.RevokedAt)
	}
	var revokes int
	for _, e := range f.auditFor(t, "enrollment_token.revoke", f.site.ID) {
		if e.Detail["token_id"] == tok.ID {
			revokes++
		}
	}
	if revokes != 1 {
		t.Errorf("revoke audit entries for the token = %d, want 1", revokes)
	}
	if _, err := f.db.Enroll(ctx, auth.HashSecret(secret), store.NewAgent{
		SecretHash: auth.HashSecret("agent-2"), Facts: protocol.Facts{Hostname: "host-2"},
	}); !errors.Is(err, store.ErrTokenRevoked) {
		t.Errorf("Enroll with a revoked token: error = %v, want ErrTokenRevoked", err)
	}
}

func testUsers(t *testing.T, f *fixture) {
	ctx := t.Context()
	u, err := f.svc.CreateUser(ctx, f.principal(store.RoleOwner), "  New.Admin@Example.COM", goodPassword, store.RoleAdmin)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.Email != "new.admin@example.com" || u.Role != store.RoleAdmin || u.ID == "" {
		t.Errorf("CreateUser = %+v, want new.admin@example.com, admin, with an ID", u)
	}
	stored, err := f.db.UserByEmail(ctx, "new.admin@example.com")
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if stored.ID != u.ID || stored.Role != store.RoleAdmin {
		t.Errorf("stored user = %+v, want %s, admin", stored, u.ID)
	}
	if err := auth.VerifyPassword(stored.PasswordHash, goodPassword); err != nil {
		t.Errorf("VerifyPassword(stored hash, password): %v", err)
	}
	if err := auth.VerifyPassword(stored.PasswordHash, goodPassword+"!"); !errors.Is(err, auth.ErrMismatch) {
		t.Errorf("VerifyPassword(stored hash, wrong password) = %v, want ErrMismatch", err)
	}

	owner := f.users[store.RoleOwner]
	if owner.Email != "owner@example.com" || owner.Role != store.RoleOwner {
		t.Errorf("first owner = %+v, want owner@example.com with role owner", owner)
	}
	fromDB, err := f.db.UserByID(ctx, owner.ID)
	if err != nil {
		t.Fatalf("UserByID(first owner): %v", err)
	}
	if err := auth.VerifyPassword(fromDB.PasswordHash, goodPassword); err != nil {
		t.Errorf("first owner's password does not verify: %v", err)
	}
}

func testAPITokens(t *testing.T, f *fixture) {
	ctx := t.Context()
	tech := f.users[store.RoleTechnician]
	secret, tok, err := f.svc.CreateAPIToken(ctx, f.principal(store.RoleTechnician), tech.ID, " laptop ")
	if err != nil {
		t.Fatalf("CreateAPIToken: %v", err)
	}
	if !strings.HasPrefix(secret, auth.PrefixAPIToken) || len(secret) < 40 {
		t.Errorf("API token = %q, want %s and a long random part", secret, auth.PrefixAPIToken)
	}
	if tok.Name != "laptop" || tok.UserID != tech.ID || tok.ID == "" {
		t.Errorf("CreateAPIToken = %+v, want name laptop for %s", tok, tech.ID)
	}
	u, got, err := f.db.APITokenUser(ctx, auth.HashSecret(secret))
	if err != nil {
		t.Fatalf("APITokenUser(new token): %v", err)
	}
	if u.ID != tech.ID || got.ID != tok.ID {
		t.Errorf("APITokenUser = user %s token %s, want %s and %s", u.ID, got.ID, tech.ID, tok.ID)
	}
}

func TestCreateFirstOwnerRace(t *testing.T) {
	// Two setup requests at once must not both create an owner.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := manage.New(db)
		const n = 4
		var (
			wg   sync.WaitGroup
			errs [n]error
		)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = svc.CreateFirstOwner(t.Context(), "203.0.113.1", fmt.Sprintf("owner%d@example.com", i), goodPassword)
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("CreateFirstOwner #%d: error = %v, want nil or ErrConflict", i, err)
			}
		}
		users, err := db.ListUsers(t.Context())
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if ok != 1 || len(users) != 1 {
			t.Errorf("concurrent CreateFirstOwner: %d succeeded and %d users exist, want 1 and 1", ok, len(users))
		}
	})
}
