package web_test

import (
	"net/http"
	"strings"
	"testing"

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
