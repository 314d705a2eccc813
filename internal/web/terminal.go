package web

import (
	"net/http"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// terminalCSP is the dashboard's policy with inline styles allowed: the
// terminal library (xterm.js 6) sizes and colours its grid through <style>
// elements it writes. Scripts stay limited to our own files.
var terminalCSP = strings.Replace(contentSecurityPolicy, "style-src 'self'", "style-src 'self' 'unsafe-inline'", 1)

// terminalPage serves GET /agents/{id}/terminal: a root/SYSTEM shell on
// the agent in the browser. The page opens the session through the API
// (POST /api/v1/agents/{id}/sessions) and dials the relay itself.
func (h *Handler) terminalPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.RemoteTerminal); err != nil {
		return err
	}
	a, err := h.cfg.DB.Agent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Security-Policy", terminalCSP)
	return h.render(w, r, http.StatusOK, "terminal", "", view{Title: "Terminal · " + a.Hostname, Nav: "agents", Page: terminalView{Agent: a}})
}

// terminalView is the terminal page's data.
type terminalView struct {
	store.Agent
}
