package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/web"
)

var allRoles = []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleTechnician, store.RoleReadonly}

// TestEveryPageForEveryRole walks every page as each role, and every form
// as read-only, which must be refused.
func TestEveryPageForEveryRole(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	e.connect(a, linuxFacts("web-01"))
	e.enroll(f, linuxFacts("db-01"))
	_, tok, err := e.mgr.CreateEnrollmentToken(context.Background(), access.Console(), f.site.ID, time.Hour, 5)
	if err != nil {
		t.Fatal(err)
	}

	pages := []string{
		"/", "/agents", "/agents?q=web&client=" + f.client.ID + "&site=" + f.site.ID + "&status=online&os=linux&sort=-last_seen&page=1",
		"/agents/" + a.ID, "/clients", "/clients/" + f.client.ID, "/sites/" + f.site.ID, "/audit", "/audit?action=client.",
		"/alerts", "/alerts?state=all&severity=critical&client=" + f.client.ID + "&page=3",
		"/agents/" + a.ID + "/inventory", "/agents/" + a.ID + "/metrics", "/agents/" + a.ID + "/software",
		"/agents/" + a.ID + "/policy", "/agents/" + a.ID + "/alerts", "/agents/" + a.ID + "/history", "/agents/" + a.ID + "/actions", "/software", "/software?name=curl&version=8&client=" + f.client.ID, "/software?title=x",
	}
	forms := map[store.Role]bool{store.RoleOwner: true, store.RoleAdmin: true}
	tokenForms := map[store.Role]bool{store.RoleOwner: true, store.RoleAdmin: true, store.RoleTechnician: true}
	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := e.signedIn(role)
			for _, p := range pages {
				res := b.get(p)
				wantStatus(t, "GET "+p, res, http.StatusOK)
				mustContain(t, p, res.body, "<!doctype html>", string(role)+"@example.com", `name="csrf_token"`, `hx-headers='{"X-CSRF-Token": "`)
				mustNotContain(t, p, res.body, "Something went wrong")
			}
			clients := b.get("/clients").body
			if got := strings.Contains(clients, `action="/clients"`); got != forms[role] {
				t.Errorf("clients page shows the create form: %v, want %v", got, forms[role])
			}
			site := b.get("/sites/" + f.site.ID).body
			if got := strings.Contains(site, `action="/sites/`+f.site.ID+`/tokens"`); got != tokenForms[role] {
				t.Errorf("site page shows the token form: %v, want %v", got, tokenForms[role])
			}
			if got := strings.Contains(site, `action="/tokens/`+tok.ID+`/revoke"`); got != tokenForms[role] {
				t.Errorf("site page shows revoke buttons: %v, want %v", got, tokenForms[role])
			}
		})
	}

	t.Run("readonly POSTs", func(t *testing.T) {
		b := e.signedIn(store.Role("readonly"))
		for path, form := range map[string]url.Values{
			"/clients":                            {"name": {"Nope"}},
			"/clients/" + f.client.ID + "/sites":  {"name": {"Nope"}},
			"/sites/" + f.site.ID + "/tokens":     {"expires_in": {"24h"}, "max_uses": {"0"}},
			"/sites/" + f.site.ID + "/tokens?bad": {"expires_in": {"forever"}, "max_uses": {"x"}},
			"/tokens/" + tok.ID + "/revoke":       nil,
			"/updates":                            {"id": {a.ID}},
			"/agents/power":                       {"id": {a.ID}, "power": {"reboot"}},
			"/agents/policy":                      {"id": {a.ID}, "policy_id": {"default"}},
			"/agents/" + a.ID + "/actions":        {"action": {"processes"}},
		} {
			res := b.post(path, form)
			wantStatus(t, "readonly POST "+path, res, http.StatusForbidden)
			mustContain(t, "POST "+path, res.body, "Your role does not allow this.")
		}
		if got, _ := e.db.EnrollmentToken(context.Background(), tok.ID); !got.RevokedAt.IsZero() {
			t.Error("readonly revoked a token")
		}
		if _, n, _ := e.db.ListClients(context.Background(), store.Page{}); n != 1 {
			t.Errorf("clients after readonly POSTs: %d, want 1", n)
		}
	})

	t.Run("technician cannot create clients", func(t *testing.T) {
		b := e.signedIn(store.Role("technician"))
		wantStatus(t, "technician POST /clients", b.post("/clients", url.Values{"name": {"Nope"}}), http.StatusForbidden)
	})
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleAdmin)

	wantStatus(t, "POST /clients without a token", b.postRaw("/clients", url.Values{"name": {"A"}}), http.StatusForbidden)
	wantStatus(t, "POST /clients with a wrong token", b.postRaw("/clients", url.Values{"name": {"A"}, "csrf_token": {strings.Repeat("x", 43)}}), http.StatusForbidden)
	if _, n, _ := e.db.ListClients(context.Background(), store.Page{}); n != 0 {
		t.Fatalf("clients after refused POSTs: %d, want 0", n)
	}
	// htmx sends the token in a header.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/clients", strings.NewReader("name=Header+Corp"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(access.CSRFHeader, b.csrf())
	wantStatus(t, "POST /clients with the header token", b.do(req), http.StatusSeeOther)
	// A cross-site form post is refused before anything else.
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/clients", strings.NewReader("name=Evil&csrf_token="+b.csrf()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, "cross-site POST", b.do(req), http.StatusForbidden)
	// Login itself is protected against login CSRF.
	wantStatus(t, "POST /login without a token", e.browser().postRaw("/login", url.Values{"email": {"a@b.c"}, "password": {"x"}}), http.StatusForbidden)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleOwner)
	for _, path := range []string{"/", "/agents", "/login", "/no/such/page", "/agents/missing", "/static/app.css"} {
		res := b.get(path)
		if got := res.header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("GET %s: CSP %q, want %q", path, got, web.ContentSecurityPolicy)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if got := res.header.Get(h); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, h, got, want)
			}
		}
	}
	res := b.get("/agents")
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("page Cache-Control %q, want no-store", got)
	}
	// Nothing inline that the CSP would block.
	for _, bad := range []string{"<script>", "<style", ` style="`, " onclick=", " onload=", " onsubmit="} {
		mustNotContain(t, "agents page", res.body, bad)
	}
}

func TestNotFoundPages(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleAdmin)
	for _, path := range []string{"/agents/0190aaaa-0000-7000-8000-000000000000", "/clients/nope", "/sites/nope", "/nothing-here", "/agents/x/y"} {
		res := b.get(path)
		wantStatus(t, "GET "+path, res, http.StatusNotFound)
		mustContain(t, path, res.body, "Not found")
	}
	wantStatus(t, "revoke unknown token", b.post("/tokens/nope/revoke", nil), http.StatusNotFound)
	wantStatus(t, "site of unknown client", b.post("/clients/nope/sites", url.Values{"name": {"X"}}), http.StatusNotFound)
	wantStatus(t, "token for unknown site", b.post("/sites/nope/tokens", url.Values{"expires_in": {"1h"}}), http.StatusNotFound)
}

func TestClientsAndSites(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleAdmin)

	res := b.post("/clients", url.Values{"name": {"  Globex  "}})
	wantStatus(t, "create client", res, http.StatusSeeOther)
	clientURL := location(res)
	if !strings.HasPrefix(clientURL, "/clients/") {
		t.Fatalf("create client redirect %q", clientURL)
	}
	res = b.post("/clients", url.Values{"name": {"globex"}})
	wantStatus(t, "duplicate client", res, http.StatusConflict)
	mustContain(t, "duplicate client page", res.body, `Client &#34;globex&#34; already exists.`, `value="globex"`, `aria-invalid="true"`)
	res = b.post("/clients", url.Values{"name": {"  "}})
	wantStatus(t, "empty client name", res, http.StatusBadRequest)
	mustContain(t, "empty name page", res.body, "Name is required")

	res = b.get("/clients")
	mustContain(t, "clients list", res.body, ">Globex</a>", "Showing 1–1 of 1 clients")

	res = b.post(clientURL+"/sites", url.Values{"name": {"Warehouse"}})
	wantStatus(t, "create site", res, http.StatusSeeOther)
	siteURL := location(res)
	if !strings.HasPrefix(siteURL, "/sites/") {
		t.Fatalf("create site redirect %q", siteURL)
	}
	wantStatus(t, "duplicate site", b.post(clientURL+"/sites", url.Values{"name": {"WAREHOUSE"}}), http.StatusConflict)
	res = b.get(clientURL)
	wantStatus(t, "client page", res, http.StatusOK)
	mustContain(t, "client page", res.body, "<h1>Globex</h1>", `href="`+siteURL+`">Warehouse</a>`, "1 site ·")
	res = b.get(siteURL)
	wantStatus(t, "site page", res, http.StatusOK)
	mustContain(t, "site page", res.body, "<h1>Warehouse</h1>", "No tokens yet.")
}

func TestEnrollmentTokens(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Initech", "Basement")
	b := e.signedIn(store.RoleTechnician)

	res := b.post("/sites/"+f.site.ID+"/tokens", url.Values{"expires_in": {"7d"}, "max_uses": {"3"}})
	// Redirect after the post: a reload of the token page mints nothing.
	wantStatus(t, "create token", res, http.StatusSeeOther)
	tokenURL := location(res)
	if !strings.HasPrefix(tokenURL, "/tokens/") {
		t.Fatalf("create token redirects to %q, want /tokens/{id}", tokenURL)
	}
	res = b.get(tokenURL)
	wantStatus(t, "token page", res, http.StatusOK)
	mustContain(t, "token page", res.body, "shown only this once", "Linux", "Windows", "macOS",
		"/download/agent/linux/$(uname -m)", "/download/agent/darwin/$(uname -m)", "$env:PROCESSOR_ARCHITECTURE",
		"--server "+testPublicURL, "as system services", "up to 3 machines",
		// The test server's public URL is plain http.
		"uses plain http")
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("token page Cache-Control %q, want no-store", got)
	}
	m := regexpFind(`<code id="token-secret" class="mono">(ste_[A-Za-z0-9_-]+)</code>`, res.body)
	if m == "" {
		t.Fatalf("token page shows no token:\n%s", res.body)
	}
	// A reload shows the token without its secret, and mints nothing.
	again := b.get(tokenURL)
	wantStatus(t, "token page reloaded", again, http.StatusOK)
	mustContain(t, "token page reloaded", again.body, "This token was shown once")
	mustNotContain(t, "token page reloaded", again.body, m, "steward-agent install")
	if toks, _ := e.db.ListEnrollmentTokens(context.Background(), f.site.ID); len(toks) != 2 {
		t.Errorf("%d tokens after a reload, want 2 (the fixture's and the new one)", len(toks))
	}
	// Another user never sees the secret.
	mustNotContain(t, "token page of another user", e.signedIn(store.RoleTechnician).get(tokenURL).body, m)
	// The secret really enrolls, and never appears again.
	e.enroll(fixture{site: f.site, token: m}, linuxFacts("new-host"))
	site := b.get("/sites/" + f.site.ID)
	mustNotContain(t, "site page", site.body, m)
	mustContain(t, "site page", site.body, m[:10]+"…", "1 / 3", "state-active", "technician@example.com")

	toks, _ := e.db.ListEnrollmentTokens(context.Background(), f.site.ID)
	var created store.EnrollmentToken
	for _, tk := range toks {
		if strings.HasPrefix(m, tk.Prefix) {
			created = tk
		}
	}
	if got := created.ExpiresAt.Sub(created.CreatedAt).Round(time.Hour); got != 7*24*time.Hour {
		t.Errorf("token lifetime %v, want 7 days", got)
	}

	res = b.post("/sites/"+f.site.ID+"/tokens", url.Values{"expires_in": {"1h"}, "max_uses": {"-4"}})
	wantStatus(t, "token with negative max uses", res, http.StatusBadRequest)
	mustContain(t, "bad token form", res.body, "Maximum uses must be between 0", `value="-4"`)
	res = b.post("/sites/"+f.site.ID+"/tokens", url.Values{"expires_in": {"forever"}})
	wantStatus(t, "token with a bad lifetime", res, http.StatusBadRequest)
	mustContain(t, "bad token form", res.body, "Expiry must be between")

	res = b.post("/tokens/"+created.ID+"/revoke", nil)
	wantStatus(t, "revoke", res, http.StatusSeeOther)
	if got := location(res); got != "/sites/"+f.site.ID {
		t.Errorf("revoke redirect %q", got)
	}
	if got, _ := e.db.EnrollmentToken(context.Background(), created.ID); got.State(time.Now()) != "revoked" {
		t.Errorf("token state after revoke %q, want revoked", got.State(time.Now()))
	}
	mustContain(t, "site page after revoke", b.get("/sites/"+f.site.ID).body, "state-revoked")

	audit := b.get("/audit?action=enrollment_token.")
	mustContain(t, "audit page", audit.body, "enrollment_token.create", "enrollment_token.revoke", "technician@example.com")
	mustNotContain(t, "filtered audit page", audit.body, ">client.create<")
	mustContain(t, "full audit page", b.get("/audit").body, "client.create", "agent.enroll", "new-host")
}

func TestHomeAndAgentPage(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Umbrella", "Lab")
	a := e.enroll(f, linuxFacts("lab-1"))
	e.connect(a, linuxFacts("lab-1"))
	gone := e.enroll(f, linuxFacts("lab-2"))
	b := e.signedIn(store.RoleReadonly)

	res := b.get("/")
	wantStatus(t, "home", res, http.StatusOK)
	stats := regexpAll(`<span class="n">([0-9,]+)</span><span class="l">(?:<span[^>]*></span>)?(\w+)</span>`, res.body)
	if got, want := strings.Join(stats, " "), "2 Agents 1 Online 1 Offline 1 Clients 1 Sites"; got != want {
		t.Errorf("home stats %q, want %q", got, want)
	}
	mustContain(t, "home", res.body, `href="/agents/`+gone.ID+`">lab-2</a>`, `sse-connect="/events"`, `hx-trigger="sse:presence"`)
	part := b.get("/", "HX-Request", "true")
	mustContain(t, "home fragment", part.body, `id="home-live"`)
	mustNotContain(t, "home fragment", part.body, "<html")

	res = b.get("/agents/" + a.ID)
	wantStatus(t, "agent page", res, http.StatusOK)
	mustContain(t, "agent page", res.body, "<h1>lab-1</h1>", "Online", "ubuntu 24.04", "6.8.0-45-generic", "amd64",
		"10.0.0.5", "fe80::1", "alice", "0.1.0", `<dt>Remote address</dt><dd class="mono">127.0.0.1</dd>`, a.ID, "up 2 d 2 h", `href="/sites/`+f.site.ID+`">Lab</a>`)
	res = b.get("/agents/" + gone.ID)
	mustContain(t, "offline agent page", res.body, "Offline", "not connected", "no sample in the last 15 minutes")
	// The overview says what the machine uses now.
	e.ingest(a.ID, protocol.Sample{Time: time.Now().Add(-time.Minute), Values: map[string]float64{"cpu.percent": 95, "memory.percent": 30, "disk.percent:/": 80}})
	mustContain(t, "agent page with a sample", b.get("/agents/"+a.ID).body,
		`<span class="hot">CPU 95 %</span> · <span class="">RAM 30 %</span> · <span class="warm">disk / 80 %</span>`)
}
