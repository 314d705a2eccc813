package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
)

// scopeView is the monitoring panel of a client, site or agent page: its
// unresolved alerts, the policy assigned there and its maintenance
// windows, with the forms that change them.
type scopeView struct {
	Level, TargetID string
	// Here is the page's path, where the panel's forms return.
	Here string
	// Alerts counts the unresolved alerts by severity; AlertsURL lists them.
	Alerts    []severityCount
	AlertsURL string
	// Assigned is the policy assigned at this scope; nil when none is.
	Assigned *store.PolicyAssignment
	// Policies are the assignment form's choices.
	Policies []store.Policy
	// Windows are the maintenance windows that cover the scope, its own
	// and those of the site or client it belongs to.
	Windows []windowView
	// Until is the end of the active maintenance; zero when none is active.
	Until time.Time
}

// windowView is a maintenance window as a scope's panel lists it.
type windowView struct {
	store.MaintenanceWindow
	// Where says what the window covers when it is not this scope's own:
	// "client Acme".
	Where  string
	Active bool
}

// Durations are the maintenance form's suggested durations.
func (scopeView) Durations() []string { return []string{"30m", "1h", "2h", "4h", "8h", "24h", "72h"} }

// scopeTarget is a scope and the scopes it belongs to.
type scopeTarget struct {
	level, id  string
	clientID   string
	clientName string
	siteID     string
	siteName   string
	here       string
	alerts     alertQuery
}

func clientScope(c store.Client) scopeTarget {
	return scopeTarget{level: store.LevelClient, id: c.ID, clientID: c.ID, clientName: c.Name,
		here: "/clients/" + url.PathEscape(c.ID), alerts: alertQuery{Client: c.ID}}
}

func siteScope(s store.Site) scopeTarget {
	return scopeTarget{level: store.LevelSite, id: s.ID, clientID: s.ClientID, clientName: s.ClientName,
		siteID: s.ID, siteName: s.Name, here: "/sites/" + url.PathEscape(s.ID), alerts: alertQuery{Client: s.ClientID, Site: s.ID}}
}

func agentScope(a store.Agent) scopeTarget {
	return scopeTarget{level: store.LevelAgent, id: a.ID, clientID: a.ClientID, clientName: a.ClientName,
		siteID: a.SiteID, siteName: a.SiteName, here: "/agents/" + url.PathEscape(a.ID), alerts: alertQuery{Agent: a.ID}}
}

// scope loads the monitoring panel of t.
func (h *Handler) scope(ctx context.Context, t scopeTarget) (*scopeView, error) {
	all := t.alerts
	all.State = stateUnresolved
	sv := &scopeView{Level: t.level, TargetID: t.id, Here: t.here, AlertsURL: all.url()}
	var err error
	if sv.Alerts, err = h.severityCounts(ctx, t.alerts); err != nil {
		return nil, err
	}
	// The policies come with their assignments: one read finds the one here.
	if sv.Policies, err = h.cfg.DB.ListPolicies(ctx); err != nil {
		return nil, err
	}
	for _, p := range sv.Policies {
		for _, a := range p.Assignments {
			if a.Level == t.level && a.TargetID == t.id {
				sv.Assigned = &a
			}
		}
	}
	windows, err := h.cfg.DB.ListMaintenanceWindows(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, w := range windows {
		wv := windowView{MaintenanceWindow: w, Active: !w.StartsAt.After(now)}
		switch {
		case w.Level == t.level && w.TargetID == t.id:
		case w.Level == store.LevelClient && w.TargetID == t.clientID:
			wv.Where = "client " + t.clientName
		case w.Level == store.LevelSite && w.TargetID == t.siteID:
			wv.Where = "site " + t.siteName
		default:
			continue
		}
		sv.Windows = append(sv.Windows, wv)
		if wv.Active && w.EndsAt.After(sv.Until) {
			sv.Until = w.EndsAt
		}
	}
	return sv, nil
}

// inMaintenance returns the clients, sites or agents (by level) with a
// window of their own active now, for badges in lists.
func (h *Handler) inMaintenance(ctx context.Context, level string) (map[string]bool, error) {
	windows, err := h.cfg.DB.ListMaintenanceWindows(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := map[string]bool{}
	for _, w := range windows {
		if w.Level == level && !w.StartsAt.After(now) {
			out[w.TargetID] = true
		}
	}
	return out, nil
}

// scopePath is the page of a client, site or agent.
func scopePath(level, id string) string {
	switch level {
	case store.LevelClient:
		return "/clients/" + url.PathEscape(id)
	case store.LevelSite:
		return "/sites/" + url.PathEscape(id)
	case store.LevelAgent:
		return "/agents/" + url.PathEscape(id)
	}
	return "/policies"
}

// back redirects to the form's next field, a path on this site, or to
// fallback.
func back(w http.ResponseWriter, r *http.Request, fallback string) {
	next := safeNext(r.PostFormValue("next"))
	if next == "/" {
		next = fallback
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startMaintenance serves POST /maintenance: a window from now for a
// duration ("2h") or until a time, which the browser sends in UTC
// (until_utc) converted from the reader's zone, or without JavaScript as
// a UTC time (until).
func (h *Handler) startMaintenance(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	level, target := r.PostFormValue("level"), r.PostFormValue("target_id")
	now := time.Now()
	// Unparseable values go to manage as out-of-range ones, so its
	// permission check comes first and its message is the one shown.
	var d time.Duration
	if utc := strings.TrimSpace(r.PostFormValue("until_utc")); utc != "" {
		// The browser converted the reader's local time (app.js).
		if t, err := time.Parse(time.RFC3339Nano, utc); err == nil {
			d = t.Sub(now)
		}
	} else if until := strings.TrimSpace(r.PostFormValue("until")); until != "" {
		// Without JavaScript the label says UTC.
		if t, err := time.ParseInLocation("2006-01-02T15:04", until, time.UTC); err == nil {
			d = t.Sub(now)
		}
	} else if dur, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("duration"))); err == nil {
		d = dur
	}
	_, err := h.cfg.Manage.StartMaintenance(r.Context(), p, level, target, now, d, r.PostFormValue("reason"))
	if err != nil {
		return err
	}
	back(w, r, scopePath(level, target))
	return nil
}

// endMaintenance serves POST /maintenance/{id}/end.
func (h *Handler) endMaintenance(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.cfg.Manage.EndMaintenance(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	back(w, r, "/")
	return nil
}

// assignPolicy serves POST /assignments: it places a policy at the
// default level or on a client, site or agent. An agent may be named by
// hostname, as the policy editor's form allows.
func (h *Handler) assignPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	level, target := r.PostFormValue("level"), strings.TrimSpace(r.PostFormValue("target_id"))
	if l, t, ok := strings.Cut(r.PostFormValue("scope"), ":"); ok {
		level, target = l, t
	}
	policyID := r.PostFormValue("policy_id")
	typed := target
	err := func() error {
		if level == store.LevelAgent && target != "" && access.Can(p, access.ManagePolicies) {
			id, err := h.agentByName(r.Context(), target)
			if err != nil {
				return err
			}
			target = id
		}
		return h.cfg.Manage.Assign(r.Context(), p, level, target, policyID)
	}()
	if pr, ok := formProblem(err); ok && level == store.LevelAgent && strings.HasPrefix(r.PostFormValue("next"), "/policies/") {
		// The editor's "assign to agent" field: say it beside the field.
		r.SetPathValue("id", policyID)
		return h.renderEditorWith(w, r, pr.Status, nil, assignProblem{Agent: typed, Error: pr.Message})
	}
	if err != nil {
		return err
	}
	back(w, r, scopePath(level, target))
	return nil
}

// agentByName returns the ID of the agent with that ID or, failing that,
// that exact hostname.
func (h *Handler) agentByName(ctx context.Context, name string) (string, error) {
	if a, err := h.cfg.DB.Agent(ctx, name); err == nil {
		return a.ID, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	agents, _, err := h.cfg.DB.ListAgents(ctx, store.AgentFilter{Query: name}, store.Page{Limit: 100})
	if err != nil {
		return "", err
	}
	var ids []string
	for _, a := range agents {
		if strings.EqualFold(a.Hostname, name) {
			ids = append(ids, a.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", &input.Error{Field: "agent", Message: "matches no agent ID or hostname"}
	case 1:
		return ids[0], nil
	}
	return "", &input.Error{Field: "agent", Message: "matches several hostnames; use the agent ID"}
}

// unassignPolicy serves POST /assignments/remove.
func (h *Handler) unassignPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	level, target := r.PostFormValue("level"), r.PostFormValue("target_id")
	if err := h.cfg.Manage.Unassign(r.Context(), p, level, target); err != nil {
		return err
	}
	back(w, r, scopePath(level, target))
	return nil
}
