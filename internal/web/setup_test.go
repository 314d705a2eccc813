package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

func TestSetupCreatesFirstOwner(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *testEnv) {
		b := e.browser()
		token := e.srv.SetupToken()

		wantStatus(t, "GET /setup without token", b.get("/setup"), http.StatusForbidden)
		wantStatus(t, "GET /setup with a wrong token", b.get("/setup?token=sts_wrong"), http.StatusForbidden)
		res := b.get("/setup?token=" + url.QueryEscape(token))
		wantStatus(t, "GET /setup with the token", res, http.StatusOK)
		mustContain(t, "setup page", res.body, `name="token" value="`+token+`"`, `name="confirm"`)

		form := func(email, pw, confirm string) url.Values {
			return url.Values{"token": {token}, "email": {email}, "password": {pw}, "confirm": {confirm}}
		}
		wantStatus(t, "POST /setup without CSRF token", b.postRaw("/setup", form("o@example.com", testPassword, testPassword)), http.StatusForbidden)
		wantStatus(t, "POST /setup with a wrong setup token",
			b.post("/setup", url.Values{"token": {"sts_x"}, "email": {"o@example.com"}, "password": {testPassword}, "confirm": {testPassword}}),
			http.StatusForbidden)
		res = b.post("/setup", form("o@example.com", testPassword, "something else"))
		wantStatus(t, "POST /setup with mismatched passwords", res, http.StatusBadRequest)
		mustContain(t, "mismatch page", res.body, "do not match", `id="confirm" name="confirm" autocomplete="new-password" required aria-invalid="true"`)
		res = b.post("/setup", form("o@example.com", "short", "short"))
		wantStatus(t, "POST /setup with a short password", res, http.StatusBadRequest)
		mustContain(t, "short password page", res.body, "at least 10 characters")
		res = b.post("/setup", form("not-an-email", testPassword, testPassword))
		wantStatus(t, "POST /setup with a bad email", res, http.StatusBadRequest)
		mustContain(t, "bad email page", res.body, "Email must be a valid email address", `value="not-an-email"`)
		if has, _ := e.db.HasUsers(t.Context()); has {
			t.Fatal("a failed setup created a user")
		}

		res = b.post("/setup", form("Owner@Example.com", testPassword, testPassword))
		wantStatus(t, "POST /setup", res, http.StatusSeeOther)
		if got := location(res); got != "/" {
			t.Errorf("setup redirect: got %q, want /", got)
		}
		u, err := e.db.UserByEmail(t.Context(), "owner@example.com")
		if err != nil || u.Role != store.RoleOwner {
			t.Fatalf("owner after setup: %+v, %v", u, err)
		}
		if e.srv.SetupToken() != "" {
			t.Error("setup gate still open after setup")
		}
		res = b.get("/")
		wantStatus(t, "home after setup (session started)", res, http.StatusOK)
		mustContain(t, "home", res.body, "owner@example.com")

		// The route is gone, whatever the token, method or spelling.
		for _, path := range []string{"/setup", "/setup?token=" + url.QueryEscape(token)} {
			res := e.browser().get(path)
			wantStatus(t, "GET "+path+" after setup", res, http.StatusNotFound)
			mustContain(t, "GET "+path+" after setup", res.body, "Setup is done", `href="/login">Sign in</a>`)
		}
		wantStatus(t, "POST /setup after setup", e.browser().post("/setup", form("x@example.com", testPassword, testPassword)), http.StatusNotFound)
	})
}

// TestSetupGoneOnceAnyUserExists covers a user created from the console
// while the server runs, with the gate still open, and odd spellings of
// the path.
func TestSetupGoneOnceAnyUserExists(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	token := e.srv.SetupToken()
	e.user(store.RoleReadonly)
	if e.srv.SetupToken() == "" {
		t.Fatal("test needs the gate still open")
	}
	b := e.browser()
	follow := &http.Client{Jar: b.c.Jar} // follows the mux's path-cleaning redirects
	q := "?token=" + url.QueryEscape(token)
	form := url.Values{"token": {token}, "email": {"evil@example.com"}, "password": {testPassword}, "confirm": {testPassword}}
	for _, path := range []string{"/setup", "/setup/", "/SETUP", "/%73etup", "/setup;x", "//setup", "/./setup", "/setup%2F"} {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			var body *strings.Reader
			if method == http.MethodPost {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				f.Set(access.CSRFField, b.csrf())
				body = strings.NewReader(f.Encode())
			} else {
				body = strings.NewReader("")
			}
			req, err := http.NewRequest(method, e.srv.URL+path+q, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := follow.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s with the open gate's token: status %d, want 404", method, path, res.StatusCode)
			}
		}
	}
	if n, _ := e.db.HasUsers(context.Background()); !n {
		t.Fatal("user vanished")
	}
	if _, err := e.db.UserByEmail(context.Background(), "evil@example.com"); err == nil {
		t.Fatal("setup created a second owner")
	}
}
