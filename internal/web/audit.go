package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// auditView is the data of the audit page.
type auditView struct {
	Action  string
	Entries []store.AuditEntry
	Pager   pager
}

// auditActions are offered as filter suggestions; any prefix works.
var auditActions = []string{
	"agent.", "agent.enroll", "alert.", "client.", "enrollment_token.", "enrollment_token.create",
	"enrollment_token.revoke", "site.", "user.", "api_token.",
}

// Suggestions lists common action prefixes.
func (auditView) Suggestions() []string { return auditActions }

// auditPage serves GET /audit: the audit log, newest first, filtered by an
// action prefix.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	q := r.URL.Query()
	action := strings.TrimSpace(q.Get("action"))
	if len(action) > 100 {
		action = action[:100]
	}
	page := pageNumber(q)
	entries, total, err := h.cfg.DB.ListAudit(r.Context(), store.AuditFilter{Action: action}, store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	base := url.Values{}
	if action != "" {
		base.Set("action", action)
	}
	av := auditView{Action: action, Entries: entries, Pager: newPager("/audit", base, page, len(entries), total)}
	return h.render(w, r, http.StatusOK, "audit", "", view{Title: "Audit log", Nav: "audit", Page: av})
}

// TargetURL links an audit target to its page, when it has one.
func (auditView) TargetURL(e store.AuditEntry) string {
	switch e.TargetType {
	case "agent":
		return "/agents/" + url.PathEscape(e.TargetID)
	case "client":
		return "/clients/" + url.PathEscape(e.TargetID)
	case "site":
		return "/sites/" + url.PathEscape(e.TargetID)
	}
	return ""
}
