package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/web"
)

func TestLoginPageSaysSetupIsPending(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	res := e.browser().get("/login")
	wantStatus(t, "GET /login", res, http.StatusOK)
	mustContain(t, "login page", res.body, "Setup is pending", "server printed in its log")

	e.user(store.RoleAdmin)
	res = e.browser().get("/login")
	mustNotContain(t, "login page with users", res.body, "Setup is pending")
}

func TestPagesRequireLogin(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.browser()
	for _, path := range []string{"/", "/agents?q=web", "/agents/x", "/clients", "/clients/x", "/sites/x", "/audit"} {
		res := b.get(path)
		wantStatus(t, "GET "+path+" signed out", res, http.StatusSeeOther)
		want := "/login"
		if path != "/" {
			want += "?" + url.Values{"next": {path}}.Encode()
		}
		if got := location(res); got != want {
			t.Errorf("GET %s signed out: redirect to %q, want %q", path, got, want)
		}
	}
	// htmx fragments get a header that makes the browser navigate.
	res := b.get("/agents?q=a", "HX-Request", "true", "HX-Current-URL", e.srv.URL+"/agents?q=a")
	wantStatus(t, "htmx request signed out", res, http.StatusUnauthorized)
	if got, want := res.header.Get("HX-Redirect"), "/login?next=%2Fagents%3Fq%3Da"; got != want {
		t.Errorf("HX-Redirect: got %q, want %q", got, want)
	}
	wantStatus(t, "GET /events signed out", b.get("/events"), http.StatusUnauthorized)
	wantStatus(t, "POST /clients signed out", b.post("/clients", url.Values{"name": {"X"}}), http.StatusSeeOther)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	u := e.user(store.RoleTechnician)

	b := e.browser()
	res := b.login(u.Email, "wrong password", "")
	wantStatus(t, "login with a wrong password", res, http.StatusUnauthorized)
	mustContain(t, "failed login", res.body, web.MsgBadLogin, `value="technician@example.com"`)
	res = b.login("nobody@example.com", testPassword, "")
	wantStatus(t, "login as an unknown user", res, http.StatusUnauthorized)
	mustContain(t, "unknown user login", res.body, web.MsgBadLogin)

	res = b.login("  Technician@Example.COM ", testPassword, "/agents?status=offline")
	wantStatus(t, "login", res, http.StatusSeeOther)
	if got := location(res); got != "/agents?status=offline" {
		t.Errorf("login redirect: got %q, want the next parameter", got)
	}
	wantStatus(t, "GET / after login", b.get("/"), http.StatusOK)
	res = b.get("/login?next=/audit")
	wantStatus(t, "GET /login when signed in", res, http.StatusSeeOther)
	if got := location(res); got != "/audit" {
		t.Errorf("GET /login when signed in: redirect %q, want /audit", got)
	}
}

func TestLoginRefusesOpenRedirects(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	u := e.user(store.RoleAdmin)
	for _, next := range []string{
		"//evil.example", `/\evil.example`, "https://evil.example/", "evil.example", "/\t/evil.example",
		"javascript:alert(1)", "/%5C%5Cevil", "/\\/evil",
	} {
		b := e.browser()
		res := b.login(u.Email, testPassword, next)
		wantStatus(t, "login with next="+strconv.Quote(next), res, http.StatusSeeOther)
		loc := location(res)
		if p, err := url.Parse(loc); err != nil || p.Host != "" || p.Scheme != "" || len(loc) > 1 && (loc[1] == '/' || loc[1] == '\\') {
			t.Errorf("login with next=%q redirects to %q, off the site", next, loc)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	u := e.user(store.RoleAdmin)

	t.Run("per email", func(t *testing.T) {
		b := e.browser()
		for i := range web.LoginFailsPerKey {
			wantStatus(t, fmt.Sprintf("failure %d", i+1), b.login(u.Email, "wrong password", ""), http.StatusUnauthorized)
		}
		// Even the right password is refused now, from any browser.
		res := e.browser().login(u.Email, testPassword, "")
		wantStatus(t, "login after 10 failures", res, http.StatusTooManyRequests)
		mustContain(t, "rate-limited page", res.body, "Too many failed sign-in attempts", "Try again in 15 minutes")
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 800 || ra > 901 {
			t.Errorf("Retry-After: got %q, want about 900 seconds", res.header.Get("Retry-After"))
		}
	})

	t.Run("per IP", func(t *testing.T) {
		// The per-email test above already spent 10 of this IP's 20.
		b := e.browser()
		for i := range web.LoginFailsPerIP - web.LoginFailsPerKey {
			res := b.login(fmt.Sprintf("spray%d@example.com", i), "wrong password", "")
			wantStatus(t, fmt.Sprintf("spray failure %d", i+1), res, http.StatusUnauthorized)
		}
		wantStatus(t, "login from a blocked IP", b.login("fresh@example.com", testPassword, ""), http.StatusTooManyRequests)
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleReadonly)
	base, _ := url.Parse(e.srv.URL)
	session := b.c.Jar.Cookies(base)

	wantStatus(t, "POST /logout without CSRF token", b.postRaw("/logout", nil), http.StatusForbidden)
	res := b.post("/logout", nil)
	wantStatus(t, "POST /logout", res, http.StatusSeeOther)
	if got := location(res); got != "/login" {
		t.Errorf("logout redirect: got %q, want /login", got)
	}
	wantStatus(t, "GET / after logout", b.get("/"), http.StatusSeeOther)

	// The old cookie is dead on the server too, not just in this browser.
	replay := e.browser()
	replay.c.Jar.SetCookies(base, session)
	wantStatus(t, "GET / with the old session cookie", replay.get("/"), http.StatusSeeOther)
}

func TestSignInAudited(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	u := e.user(store.RoleTechnician)
	b := e.browser()
	if res := b.login(u.Email, "wrong password!", ""); res.status != http.StatusUnauthorized {
		t.Fatalf("bad login: status %d", res.status)
	}
	if res := b.login(u.Email, testPassword, ""); res.status != http.StatusSeeOther {
		t.Fatalf("login: status %d", res.status)
	}
	entries, n, err := e.db.ListAudit(t.Context(), store.AuditFilter{Action: "user.sign_in"}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || entries[0].ActorID != u.ID || entries[0].ActorName != u.Email || entries[0].TargetID != u.ID || entries[0].IP == "" {
		t.Errorf("sign-in audit entries %+v, want one by %s with an IP", entries, u.Email)
	}
	mustContain(t, "audit page", e.signedIn(store.RoleAdmin).get("/audit?action=user.sign_in").body, "user.sign_in", u.Email)
}
