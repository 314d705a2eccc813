package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/store"
)

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.browser()
	page := b.get("/login").body

	for _, tc := range []struct{ name, contentType, contains string }{
		{"app.css", "text/css; charset=utf-8", "--accent"},
		{"app.js", "text/javascript; charset=utf-8", "data-theme-toggle"},
		{"theme.js", "text/javascript; charset=utf-8", "steward-theme"},
		{"vendor/htmx.min.js", "text/javascript; charset=utf-8", `version:"2.0.11"`},
		{"vendor/htmx-ext-sse.js", "text/javascript; charset=utf-8", `defineExtension("sse"`},
		{"favicon.svg", "image/svg+xml", "<svg"},
	} {
		// The page links each file by a URL with its content's hash
		// between name and extension.
		ext := tc.name[strings.LastIndex(tc.name, "."):]
		hashed := regexpFind(`"(/static/`+regexp.QuoteMeta(strings.TrimSuffix(tc.name, ext))+`\.[0-9a-f]{8,}`+regexp.QuoteMeta(ext)+`)"`, page)
		if hashed == "" {
			t.Errorf("login page links no hashed URL of %s", tc.name)
			continue
		}
		res := b.get(hashed)
		wantStatus(t, "GET "+hashed, res, http.StatusOK)
		mustContain(t, hashed, res.body, tc.contains)
		if got := res.header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s Content-Type %q, want %q", hashed, got, tc.contentType)
		}
		if got := res.header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control %q", hashed, got)
		}
		etag := res.header.Get("ETag")
		if r := b.get(hashed, "If-None-Match", etag); r.status != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", hashed, r.status)
		}
		plain := b.get("/static/" + tc.name)
		wantStatus(t, "GET unhashed "+tc.name, plain, http.StatusOK)
		if got := plain.header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET unhashed %s Cache-Control %q, want no-cache", tc.name, got)
		}
	}
	for _, p := range []string{"/static/nope.css", "/static/vendor/VERSIONS", "/static/app.000000000000.css", "/static/../web.go"} {
		if r := b.get(p); r.status == http.StatusOK {
			t.Errorf("GET %s: status 200, want an error", p)
		}
	}
}

// TestTemplatesUseKnownStaticFiles guards against a typo in a static name,
// which would silently produce an unhashed 404 URL.
func TestTemplatesUseKnownStaticFiles(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleOwner)
	for _, p := range []string{"/", "/login"} {
		body := b.get(p).body
		for _, m := range regexpAll(`(?:href|src)="(/static/[^"]+)"`, body) {
			if r := b.get(m); r.status != http.StatusOK || r.header.Get("Cache-Control") == "no-cache" {
				t.Errorf("page %s links %s: status %d, Cache-Control %q", p, m, r.status, r.header.Get("Cache-Control"))
			}
		}
	}
}
