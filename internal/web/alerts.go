package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// stateUnresolved is the default view of the alerts list: open and
// acknowledged alerts, the ones someone still has to look at.
const stateUnresolved = "unresolved"

// alertStates are the state filter's choices; "all" does not filter.
var alertStates = []struct{ Value, Label string }{
	{stateUnresolved, "Unresolved"},
	{store.AlertOpen, "Open"},
	{store.AlertAcknowledged, "Acknowledged"},
	{store.AlertResolved, "Resolved"},
	{"all", "All"},
}

// alertSeverities are the severity filter's choices, most serious first.
var alertSeverities = []policy.Severity{policy.SeverityCritical, policy.SeverityWarning, policy.SeverityInfo}

// maxBulkAlerts bounds one acknowledge post: a page's worth, with room.
const maxBulkAlerts = 500

// alertQuery is the state of the alerts list, kept in the URL.
type alertQuery struct {
	State    string // one of alertStates; never empty
	Severity string // "" or one of alertSeverities
	Client   string
	Site     string
	Agent    string
	// Q searches hostnames, rules and messages.
	Q    string
	Page int
}

func parseAlertQuery(v url.Values) alertQuery {
	q := alertQuery{State: v.Get("state"), Severity: v.Get("severity"), Client: v.Get("client"),
		Site: v.Get("site"), Agent: v.Get("agent"), Q: clipQuery(v.Get("q")), Page: pageNumber(v)}
	if !slices.ContainsFunc(alertStates, func(s struct{ Value, Label string }) bool { return s.Value == q.State }) {
		q.State = stateUnresolved
	}
	if !policy.Severity(q.Severity).Valid() {
		q.Severity = ""
	}
	for _, id := range []*string{&q.Client, &q.Site, &q.Agent} {
		if len(*id) > 100 {
			*id = ""
		}
	}
	return q
}

// values encodes the query without page and defaults.
func (q alertQuery) values() url.Values {
	v := url.Values{}
	if q.State != stateUnresolved {
		v.Set("state", q.State)
	}
	if q.Severity != "" {
		v.Set("severity", q.Severity)
	}
	if q.Client != "" {
		v.Set("client", q.Client)
	}
	if q.Site != "" {
		v.Set("site", q.Site)
	}
	if q.Agent != "" {
		v.Set("agent", q.Agent)
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	return v
}

// url is the canonical URL of this view of the list.
func (q alertQuery) url() string { return withQuery("/alerts", q) }

// withQuery appends the query of q's view to a form action, so the post
// redirects back to that view.
func withQuery(action string, q alertQuery) string {
	v := q.values()
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return action
	}
	return action + "?" + v.Encode()
}

func (q alertQuery) filter() store.AlertFilter {
	f := store.AlertFilter{State: q.State, Severity: q.Severity, ClientID: q.Client, SiteID: q.Site, AgentID: q.Agent, Query: q.Q}
	if f.State == "all" {
		f.State = ""
	}
	return f
}

// alertsView is the data of the alerts page.
type alertsView struct {
	Query   alertQuery
	Alerts  []store.Alert
	Pager   pager
	Clients []store.Client
	// Sites are the chosen client's, for the site filter.
	Sites []store.Site
	// AckURL and ResolveAllURL are where the bulk form's buttons post;
	// they keep this view's query so the answer comes back to it.
	AckURL, ResolveAllURL string
	// Filtered is whether the user narrowed the default view.
	Filtered bool
	// Scope names the site or agent the list is narrowed to, which the
	// filter form keeps in hidden fields; empty when not narrowed.
	Scope string
	// Remediations are the remediation runs of the listed alerts that
	// started one, by alert ID.
	Remediations map[string]remediationRun
}

// remediationRun is the run of an alert's remediation script.
type remediationRun struct {
	JobID, AgentID, Status string
}

// Remediation returns the alert's remediation run, if it started one.
func (v alertsView) Remediation(alertID string) *remediationRun {
	if r, ok := v.Remediations[alertID]; ok {
		return &r
	}
	return nil
}

// remediations reads the runs the alerts' rules started: a page of alerts
// holds few, so one read each.
func (h *Handler) remediations(ctx context.Context, alerts []store.Alert) (map[string]remediationRun, error) {
	out := map[string]remediationRun{}
	now := time.Now()
	for _, a := range alerts {
		if a.RemediationJobID == "" {
			continue
		}
		job, err := h.cfg.DB.GetJob(ctx, a.RemediationJobID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted with its script's history
		}
		if err != nil {
			return nil, err
		}
		run, err := h.cfg.DB.JobRunOf(ctx, job.ID, a.AgentID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[a.ID] = remediationRun{JobID: job.ID, AgentID: a.AgentID, Status: jobs.View(run, job, now).Status}
	}
	return out, nil
}

// States lists the state filter's choices.
func (alertsView) States() []struct{ Value, Label string } { return alertStates }

// ResolveURL is where a row's resolve button posts.
func (v alertsView) ResolveURL(a store.Alert) string {
	return withQuery("/alerts/"+url.PathEscape(a.ID)+"/resolve", v.Query)
}

// AcknowledgeURL is where a row's acknowledge button posts.
func (v alertsView) AcknowledgeURL(a store.Alert) string {
	return withQuery("/alerts/"+url.PathEscape(a.ID)+"/acknowledge", v.Query)
}

// Severities lists the severity filter's choices.
func (alertsView) Severities() []policy.Severity { return alertSeverities }

// alertsPage serves GET /alerts: alerts newest first, filtered by state,
// severity and client.
func (h *Handler) alertsPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	q := parseAlertQuery(r.URL.Query())
	f := q.filter()
	alerts, total, err := h.cfg.DB.ListAlerts(ctx, f, store.Page{Limit: pageSize, Offset: (q.Page - 1) * pageSize})
	if err != nil {
		return err
	}
	if len(alerts) == 0 && total > 0 && q.Page > 1 {
		// Past the end: show the last page.
		q.Page = lastPage(total)
		if alerts, total, err = h.cfg.DB.ListAlerts(ctx, f, store.Page{Limit: pageSize, Offset: (q.Page - 1) * pageSize}); err != nil {
			return err
		}
	}
	clients, _, err := h.cfg.DB.ListClients(ctx, store.Page{Limit: maxFilterChoices})
	if err != nil {
		return err
	}
	av := alertsView{
		Query: q, Alerts: alerts, Clients: clients, AckURL: withQuery("/alerts/acknowledge", q), ResolveAllURL: withQuery("/alerts/resolve", q),
		Pager:    newPager("/alerts", q.values(), q.Page, len(alerts), total),
		Filtered: len(q.values()) > 0,
	}
	if av.Remediations, err = h.remediations(ctx, alerts); err != nil {
		return err
	}
	if q.Client != "" {
		if av.Sites, _, err = h.cfg.DB.ListSites(ctx, q.Client, store.Page{Limit: maxFilterChoices}); err != nil {
			return err
		}
	}
	switch {
	case q.Agent != "":
		if a, err := h.cfg.DB.Agent(ctx, q.Agent); err == nil {
			av.Scope = "agent " + a.Hostname
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	case q.Site != "" && q.Client == "":
		if s, err := h.cfg.DB.Site(ctx, q.Site); err == nil {
			av.Scope = "site " + s.Name + " (" + s.ClientName + ")"
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return h.render(w, r, http.StatusOK, "alerts", "", view{Title: "Alerts", Nav: "alerts", Page: av})
}

// canHandleAlerts refuses principals who may only look at alerts.
func canHandleAlerts(p access.Principal) error { return allowed(p, access.HandleAlerts) }

// acknowledgeAlerts serves POST /alerts/acknowledge: it acknowledges the
// checked alerts and returns to the list the form came from.
func (h *Handler) acknowledgeAlerts(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.handleAlerts(w, r, p, false)
}

// resolveAlerts serves POST /alerts/resolve: it resolves the checked
// alerts and returns to the list the form came from.
func (h *Handler) resolveAlerts(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.handleAlerts(w, r, p, true)
}

func (h *Handler) handleAlerts(w http.ResponseWriter, r *http.Request, p access.Principal, resolve bool) error {
	if err := canHandleAlerts(p); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &statusError{http.StatusBadRequest, "The form could not be read."}
	}
	ids := r.PostForm["id"]
	if len(ids) > maxBulkAlerts {
		return &statusError{http.StatusBadRequest, fmt.Sprintf("Select at most %d alerts at a time.", maxBulkAlerts)}
	}
	if len(ids) > 0 {
		if _, err := h.cfg.Alerts.Handle(r.Context(), p, ids, resolve); err != nil {
			return err
		}
	}
	http.Redirect(w, r, parseAlertQuery(r.URL.Query()).url(), http.StatusSeeOther)
	return nil
}

// resolveAlert serves POST /alerts/{id}/resolve: a technician closes an
// alert by hand, for instance one whose condition cannot clear by itself.
func (h *Handler) resolveAlert(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.handleAlert(w, r, p, true)
}

// acknowledgeAlert serves POST /alerts/{id}/acknowledge: someone is on it.
func (h *Handler) acknowledgeAlert(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.handleAlert(w, r, p, false)
}

func (h *Handler) handleAlert(w http.ResponseWriter, r *http.Request, p access.Principal, resolve bool) error {
	if err := canHandleAlerts(p); err != nil {
		return err
	}
	if _, err := h.cfg.Alerts.Handle(r.Context(), p, []string{r.PathValue("id")}, resolve); err != nil {
		return err
	}
	http.Redirect(w, r, parseAlertQuery(r.URL.Query()).url(), http.StatusSeeOther)
	return nil
}

// countUnresolved counts the unresolved alerts, of one severity or, for
// "", of any.
func (h *Handler) countUnresolved(ctx context.Context, severity string) (int, error) {
	_, n, err := h.cfg.DB.ListAlerts(ctx, store.AlertFilter{State: stateUnresolved, Severity: severity}, store.Page{Limit: 1})
	return n, err
}

// countOpen counts the open alerts: those nobody acknowledged yet.
func (h *Handler) countOpen(ctx context.Context) (int, error) {
	_, n, err := h.cfg.DB.ListAlerts(ctx, store.AlertFilter{State: store.AlertOpen}, store.Page{Limit: 1})
	return n, err
}

// severityCounts counts the unresolved alerts of each severity within the
// client, site or agent that q names, each linked to the list filtered so.
func (h *Handler) severityCounts(ctx context.Context, q alertQuery) ([]severityCount, error) {
	out := make([]severityCount, 0, len(alertSeverities))
	for _, sev := range alertSeverities {
		q.State, q.Severity = stateUnresolved, string(sev)
		_, n, err := h.cfg.DB.ListAlerts(ctx, q.filter(), store.Page{Limit: 1})
		if err != nil {
			return nil, err
		}
		out = append(out, severityCount{Severity: string(sev), Label: upperFirst(string(sev)) + " alerts", N: n, URL: q.url()})
	}
	return out, nil
}

// countsOf turns one row's counts from store.UnresolvedAlertCounts into
// linked badges; q names the row's client or site.
func countsOf(c store.AlertCounts, q alertQuery) []severityCount {
	var out []severityCount
	for _, sev := range alertSeverities {
		if n := c[string(sev)]; n > 0 {
			q.State, q.Severity = stateUnresolved, string(sev)
			out = append(out, severityCount{Severity: string(sev), Label: string(sev), N: n, URL: q.url()})
		}
	}
	return out
}
