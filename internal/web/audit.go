package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// auditView is the data of the audit page.
type auditView struct {
	// The filters, as typed: an action prefix, part of the actor's name, a
	// kind of target and a range of UTC days.
	Action, Actor, TargetType, From, To string
	Entries                             []auditRow
	Pager                               pager
	Filtered                            bool
}

// auditRow is an entry with its target named for people.
type auditRow struct {
	store.AuditEntry
	// Target names the object ("agent web-01"); TargetURL opens its page,
	// empty when it has none or is gone.
	Target, TargetURL string
	// ShowActorType is false where the actor's name already says it.
	ShowActorType bool
}

// auditActions are offered as filter suggestions; any prefix works.
var auditActions = []string{
	"agent.", "agent.enroll", "alert.", "api_token.", "channel.", "client.", "command.", "enrollment_token.",
	"maintenance.", "policy.", "settings.", "site.", "user.", "user.sign_in",
}

// auditTargetTypes are the target filter's choices.
var auditTargetTypes = []struct{ Value, Label string }{
	{"agent", "Agents"}, {"alert", "Alerts"}, {"channel", "Notification channels"}, {"client", "Clients"},
	{"command_batch", "Commands"}, {"maintenance_window", "Maintenance windows"}, {"policy", "Policies"},
	{"settings", "Settings"}, {"site", "Sites"}, {"user", "Users"},
}

// Suggestions lists common action prefixes.
func (auditView) Suggestions() []string { return auditActions }

// TargetTypes lists the target filter's choices.
func (auditView) TargetTypes() []struct{ Value, Label string } { return auditTargetTypes }

// auditDay reads a yyyy-mm-dd filter as the start of that UTC day.
func auditDay(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(time.DateOnly, s, time.UTC)
	return t, err == nil
}

// auditPage serves GET /audit: the audit log, newest first, filtered by
// action prefix, actor, kind of target and days.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	q := r.URL.Query()
	clip := func(k string) string {
		s := strings.TrimSpace(q.Get(k))
		if len(s) > 100 {
			s = s[:100]
		}
		return strings.ToValidUTF8(s, "")
	}
	av := auditView{Action: clip("action"), Actor: clip("actor"), TargetType: clip("target_type"), From: clip("from"), To: clip("to")}
	f := store.AuditFilter{Action: av.Action, Actor: av.Actor, TargetType: av.TargetType}
	if t, ok := auditDay(av.From); ok {
		f.Since = t
	} else {
		av.From = ""
	}
	if t, ok := auditDay(av.To); ok {
		f.Until = t.AddDate(0, 0, 1) // the whole "to" day
	} else {
		av.To = ""
	}
	base := url.Values{}
	for k, v := range map[string]string{"action": av.Action, "actor": av.Actor, "target_type": av.TargetType, "from": av.From, "to": av.To} {
		if v != "" {
			base.Set(k, v)
		}
	}
	av.Filtered = len(base) > 0
	page := pageNumber(q)
	entries, total, err := h.cfg.DB.ListAudit(r.Context(), f, store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	targets, err := h.cfg.DB.AuditTargets(r.Context(), entries)
	if err != nil {
		return err
	}
	for _, e := range entries {
		t := auditTargetOf(e, targets)
		av.Entries = append(av.Entries, auditRow{AuditEntry: e, Target: t.name, TargetURL: t.url,
			ShowActorType: e.ActorType != "user" && e.ActorType != "api_token"})
	}
	av.Pager = newPager("/audit", base, page, len(entries), total)
	return h.render(w, r, http.StatusOK, "audit", "", view{Title: "Audit log", Nav: "audit", Page: av})
}

type auditTarget struct{ name, url string }

// auditTargetOf names an entry's target from the page's targets (read in
// one query per kind). An object since deleted is named from the entry's
// own detail when it carries a name, else by a short ID.
func auditTargetOf(e store.AuditEntry, targets map[string]map[string]store.AuditTarget) auditTarget {
	t := auditTarget{}
	esc := url.PathEscape(e.TargetID)
	if found, ok := targets[e.TargetType][e.TargetID]; ok {
		switch e.TargetType {
		case store.LevelAgent:
			t = auditTarget{"agent " + found.Name, "/agents/" + esc}
		case store.LevelClient:
			t = auditTarget{"client " + found.Name, "/clients/" + esc}
		case store.LevelSite:
			t = auditTarget{"site " + found.Name + " (" + found.Parent + ")", "/sites/" + esc}
		case "policy":
			t = auditTarget{"policy " + found.Name, "/policies/" + esc}
		case "channel":
			t = auditTarget{"channel " + found.Name, "/settings/notifications/" + esc}
		case "user":
			t = auditTarget{"user " + found.Name, ""}
		case "alert":
			t = auditTarget{"alert " + found.Name + " on " + found.Parent, "/alerts?" + url.Values{"agent": {found.ParentID}, "state": {"all"}}.Encode()}
		}
	} else if e.TargetType == store.LevelDefault {
		t = auditTarget{"the default level", "/policies"}
	}
	if t.name == "" {
		name := e.Detail["name"]
		if name == "" {
			name = e.Detail["hostname"]
		}
		if name == "" && e.TargetID != "" {
			name = shortID(e.TargetID)
		}
		t.name = strings.TrimSpace(strings.ReplaceAll(e.TargetType, "_", " ") + " " + name)
	}
	return t
}

// shortID keeps an ID readable in a table: its first 8 characters.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}
