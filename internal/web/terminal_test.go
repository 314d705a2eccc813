package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func TestTerminalPage(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	tests := []struct {
		role store.Role
		want int
	}{
		{store.RoleOwner, http.StatusOK},
		{store.RoleAdmin, http.StatusOK},
		{store.RoleTechnician, http.StatusOK},
		{store.RoleReadonly, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			b := e.signedIn(tt.role)
			res := b.get("/agents/" + a.ID + "/terminal")
			wantStatus(t, "terminal page", res, tt.want)
			agent := b.get("/agents/" + a.ID)
			link := `href="/agents/` + a.ID + `/terminal"`
			if tt.want != http.StatusOK {
				mustNotContain(t, "agent page", agent.body, link)
				return
			}
			mustContain(t, "agent page", agent.body, link, "Open terminal")
			mustContain(t, "terminal page", res.body, `data-agent="`+a.ID+`"`, "/static/terminal.", "/static/vendor/xterm.", "/static/vendor/addon-fit.", "A root shell on web-01")
			// Inline styles for xterm.js, never inline scripts.
			csp := res.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "style-src 'self' 'unsafe-inline'") || !strings.Contains(csp, "script-src 'self';") {
				t.Errorf("terminal page CSP %q, want inline styles and our own scripts only", csp)
			}
			if csp := agent.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
				t.Errorf("agent page CSP %q allows inline content", csp)
			}
		})
	}
	wantStatus(t, "unknown agent", e.signedIn(store.RoleTechnician).get("/agents/nope/terminal"), http.StatusNotFound)
}

// TestSessionsPage: owners and admins see the live sessions and end one;
// others see neither the page nor its link.
func TestSessionsPage(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	e.connect(a, linuxFacts("web-01"))
	open := servertest.Decode[map[string]any](t, e.srv.As(t, store.RoleOwner, "POST", "/api/v1/agents/"+a.ID+"/sessions",
		`{"kind":"terminal","cols":80,"rows":24}`).Want(t, http.StatusCreated))
	id := open["id"].(string)

	tech := e.signedIn(store.RoleTechnician)
	wantStatus(t, "technician's sessions page", tech.get("/sessions"), http.StatusForbidden)
	mustNotContain(t, "technician's nav", tech.get("/").body, `href="/sessions"`)
	wantStatus(t, "technician ends a session", tech.post("/sessions/"+id+"/end", url.Values{}), http.StatusForbidden)

	admin := e.signedIn(store.RoleAdmin)
	page := admin.get("/sessions")
	wantStatus(t, "admin's sessions page", page, http.StatusOK)
	mustContain(t, "sessions page", page.body, `id="live-sessions"`, ">web-01</a>", "terminal", `action="/sessions/`+id+`/end"`)
	mustContain(t, "admin's nav", admin.get("/").body, `href="/sessions"`)
	res := admin.post("/sessions/"+id+"/end", url.Values{})
	wantStatus(t, "end", res, http.StatusSeeOther)
	servertest.Eventually(t, "the session ended", func() bool {
		return !strings.Contains(admin.get("/sessions").body, `action="/sessions/`+id+`/end"`)
	})
	mustContain(t, "after the end", admin.get(location(res)).body, `id="session-ended"`, "No remote session is open.")
	servertest.Eventually(t, "session.end audited", func() bool { return auditCount(t, e, "session.end") == 1 })
}
