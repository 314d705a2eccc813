package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// agentQuery is the state of the agents list, kept in the URL so any view
// of it can be bookmarked and shared.
type agentQuery struct {
	Q      string // hostname, IP or user
	Client string
	Site   string
	Status string // "", store.StatusOnline, StatusOffline or StatusUninstalled
	OS     string
	Sort   string // store.AgentFilter.Sort
	// Cols are the chosen columns, nil for the default set.
	Cols []string
	Page int
}

func parseAgentQuery(v url.Values) agentQuery {
	q := agentQuery{
		Q:      strings.TrimSpace(v.Get("q")),
		Client: v.Get("client"),
		Site:   v.Get("site"),
		Status: v.Get("status"),
		OS:     v.Get("os"),
		Sort:   v.Get("sort"),
		Cols:   parseColumns(v),
		Page:   pageNumber(v),
	}
	if len(q.Q) > 200 {
		q.Q = q.Q[:200]
	}
	if !new(store.AgentFilter).SetStatus(q.Status) {
		q.Status = ""
	}
	if !store.ValidAgentSort(q.Sort) {
		q.Sort = ""
	}
	return q
}

// values encodes the query without page and empty fields.
func (q agentQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "client": q.Client, "site": q.Site, "status": q.Status, "os": q.OS, "sort": q.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Cols != nil {
		v.Set("col", strings.Join(q.Cols, ","))
	}
	return v
}

// url is the canonical URL of this view of the list.
func (q agentQuery) url() string {
	v := q.values()
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return "/agents"
	}
	return "/agents?" + v.Encode()
}

func (q agentQuery) filter() store.AgentFilter {
	f := store.AgentFilter{ClientID: q.Client, SiteID: q.Site, OS: q.OS, Query: q.Q, Sort: q.Sort}
	f.SetStatus(q.Status)
	return f
}

// agentColumn is a header of the agents table.
type agentColumn struct {
	ID, Label string
	// URL sorts by this column; empty when the column cannot be sorted.
	URL string
	// Dir is "ascending" or "descending" on the column sorted by.
	Dir string
}

// agentColumns lists the table's columns, in order, with their sort keys.
// Columns where the latest or "online" is the interesting end sort
// descending on first click. Status and hostname are always shown; the
// optional ones only when chosen.
var agentColumns = []struct {
	id, label, key      string
	descFirst, optional bool
}{
	{"status", "Status", "status", true, false},
	{"hostname", "Hostname", "hostname", false, false},
	{"client", "Client", "client", false, false},
	{"site", "Site", "site", false, false},
	{"os", "OS", "os", false, false},
	{"alerts", "Alerts", "", false, false},
	{"cpu", "CPU", "", false, false},
	{"memory", "RAM", "", false, false},
	{"disk", "Disk", "", false, false},
	{"user", "User", "", false, false},
	{"uptime", "Uptime", "", false, false},
	{"last_seen", "Last seen", "last_seen", true, false},
	{"version", "Agent", "version", false, true},
	{"ip", "IP address", "", false, true},
}

// fixedColumns cannot be hidden.
func fixedColumn(id string) bool { return id == "status" || id == "hostname" }

// parseColumns reads the chosen columns; nil means the default set.
func parseColumns(v url.Values) []string {
	chosen := map[string]bool{}
	for _, c := range v["col"] {
		for _, id := range strings.Split(c, ",") {
			chosen[id] = true
		}
	}
	var out []string
	for _, c := range agentColumns {
		if chosen[c.id] && !fixedColumn(c.id) {
			out = append(out, c.id)
		}
	}
	if len(out) == 0 || slices.Equal(out, defaultColumns()) {
		return nil
	}
	return out
}

func defaultColumns() []string {
	var out []string
	for _, c := range agentColumns {
		if !c.optional && !fixedColumn(c.id) {
			out = append(out, c.id)
		}
	}
	return out
}

// Show reports whether the table shows the column.
func (q agentQuery) Show(id string) bool {
	if fixedColumn(id) {
		return true
	}
	if q.Cols == nil {
		return slices.Contains(defaultColumns(), id)
	}
	return slices.Contains(q.Cols, id)
}

// columnChoice is a box of the column chooser.
type columnChoice struct {
	ID, Label string
	Checked   bool
}

// ColumnChoices lists the column chooser's boxes.
func (q agentQuery) ColumnChoices() []columnChoice {
	var out []columnChoice
	for _, c := range agentColumns {
		if !fixedColumn(c.id) {
			out = append(out, columnChoice{ID: c.id, Label: c.label, Checked: q.Show(c.id)})
		}
	}
	return out
}

func (q agentQuery) columns() []agentColumn {
	current, desc := strings.TrimPrefix(q.Sort, "-"), strings.HasPrefix(q.Sort, "-")
	if current == "" {
		current = "hostname"
	}
	out := make([]agentColumn, 0, len(agentColumns))
	for _, c := range agentColumns {
		if !q.Show(c.id) {
			continue
		}
		col := agentColumn{ID: c.id, Label: c.label}
		if c.key == "" {
			out = append(out, col)
			continue
		}
		next := c.key
		if c.descFirst {
			next = "-" + c.key
		}
		if c.key == current {
			col.Dir = "ascending"
			next = "-" + c.key
			if desc {
				col.Dir = "descending"
				next = c.key
			}
		}
		if next == "hostname" {
			next = "" // the default
		}
		link := q
		link.Sort, link.Page = next, 1
		col.URL = link.url()
		out = append(out, col)
	}
	return out
}

// columnsCookie remembers the agents list's chosen columns in this
// browser, so the choice outlives the URL it was made in.
const columnsCookie = "steward_agent_cols"

// agentColumnsRemembered applies and keeps the column choice: a request
// that names columns (the chooser, or a link carrying them) stores them,
// the default set clears the cookie, and one that names none gets the
// stored choice.
func (h *Handler) agentColumnsRemembered(w http.ResponseWriter, r *http.Request, q agentQuery) agentQuery {
	cookie := &http.Cookie{Name: columnsCookie, Path: "/agents", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: access.IsTLS(r, h.cfg.TrustProxy), MaxAge: 365 * 24 * 3600}
	if _, chosen := r.URL.Query()["col"]; chosen {
		if q.Cols == nil {
			cookie.MaxAge = -1
		} else {
			cookie.Value = strings.Join(q.Cols, ",")
		}
		http.SetCookie(w, cookie)
		return q
	}
	if c, err := r.Cookie(columnsCookie); err == nil {
		q.Cols = parseColumns(url.Values{"col": {c.Value}})
	}
	return q
}

// vitalsSince is how old a sample may be for the list to show its values
// as "now".
const vitalsSince = 15 * time.Minute

// agentsView is the data of the agents page.
type agentsView struct {
	Query   agentQuery
	Self    string
	Agents  []store.Agent
	Columns []agentColumn
	Pager   pager
	// Vitals holds each listed agent's alerts, latest use and reboot
	// state; agents without any are absent.
	Vitals map[string]store.Vitals
	// CSV is this view's export link.
	CSV string
	// Filter controls, loaded only when they are rendered.
	Clients []store.Client
	Sites   []store.Site
	// OOB asks the fragment to also refresh the filter controls that
	// depend on the result (site choices, sort), for htmx swaps that the
	// filter form or a header link started.
	OOB bool
	// Bulk shows the row boxes and the bulk bar: the user can take at
	// least one of its actions.
	Bulk bool
	// Update holds the choices of the bar's "Update now"; loaded for the
	// whole page only, nil when the user cannot update agents.
	Update *updateOptions
	// Run holds the choices of the bar's "Run script…"; nil when the
	// user cannot run scripts.
	Run *runOptions
	// Power holds the bar's "Reboot / shut down…" when the user may
	// control power.
	Power bool
	// Policies are the choices of the bar's "Assign policy…"; nil when
	// the user cannot manage policies.
	Policies []store.Policy
	// Pending holds the power action pending on each listed agent that
	// has one.
	Pending map[string]*pendingPower
}

// Filter is the list's filter as the bulk bar sends it for "all
// matching": the query without page and columns.
func (v agentsView) Filter() string {
	q := v.Query
	q.Cols = nil
	return q.values().Encode()
}

// osChoices are the operating systems the filter offers.
var osChoices = []struct{ Value, Label string }{
	{"linux", "Linux"}, {"windows", "Windows"}, {"darwin", "macOS"},
}

// OSChoices lists the OS filter options.
func (agentsView) OSChoices() []struct{ Value, Label string } { return osChoices }

// maxFilterChoices bounds the client and site selects.
const maxFilterChoices = 500

// liveRefreshID is the id of the element that re-fetches the table when a
// presence event arrives; htmx sends it in the HX-Trigger header.
const liveRefreshID = "agents-table"

// agentsPage serves GET /agents. htmx requests get the table fragment
// only: the search box, filters, sort links and pager swap it in place,
// and a presence event re-fetches it.
func (h *Handler) agentsPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	ctx := r.Context()
	q := h.agentColumnsRemembered(w, r, parseAgentQuery(r.URL.Query()))
	partial := isPartial(r)
	fromFilters := partial && r.Header.Get("HX-Trigger") != liveRefreshID

	// A site alone implies its client (the one lookup that needs the
	// database); a site of another client is dropped below, once the
	// client's sites are loaded for the select.
	if q.Site != "" && q.Client == "" {
		site, err := h.cfg.DB.Site(ctx, q.Site)
		switch {
		case errors.Is(err, store.ErrNotFound):
			q.Site = ""
		case err != nil:
			return err
		default:
			q.Client = site.ClientID
		}
	}
	var sites []store.Site
	if (!partial || fromFilters) && q.Client != "" {
		var err error
		if sites, _, err = h.cfg.DB.ListSites(ctx, q.Client, store.Page{Limit: maxFilterChoices}); err != nil {
			return err
		}
		if q.Site != "" && !slices.ContainsFunc(sites, func(s store.Site) bool { return s.ID == q.Site }) {
			q.Site = "" // the client select changed; the site select follows
		}
	}

	f := q.filter()
	agents, total, err := h.cfg.DB.ListAgents(ctx, f, store.Page{Limit: pageSize, Offset: (q.Page - 1) * pageSize})
	if err != nil {
		return err
	}
	if len(agents) == 0 && total > 0 && q.Page > 1 {
		// Past the end (rows went away, or a hand-edited URL): show the last page.
		q.Page = lastPage(total)
		if agents, total, err = h.cfg.DB.ListAgents(ctx, f, store.Page{Limit: pageSize, Offset: (q.Page - 1) * pageSize}); err != nil {
			return err
		}
	}
	av := agentsView{
		Query: q, Self: q.url(), Agents: agents, Columns: q.columns(), Sites: sites, OOB: fromFilters,
		Pager: newPager("/agents", q.values(), q.Page, len(agents), total), CSV: q.csvURL(),
	}
	if av.Vitals, err = h.cfg.DB.AgentVitals(ctx, agentIDs(agents), time.Now().Add(-vitalsSince)); err != nil {
		return err
	}
	if av.Pending, err = h.pendingPowers(ctx, agents); err != nil {
		return err
	}
	av.Power = h.cfg.Commands != nil && access.Can(p, access.ControlPower)
	canAssign := access.Can(p, access.ManagePolicies)
	av.Bulk = (h.cfg.Updates != nil && access.Can(p, access.ManageUpdates)) || (h.cfg.Jobs != nil && access.Can(p, access.RunScripts)) ||
		av.Power || canAssign
	if !partial {
		if av.Clients, _, err = h.cfg.DB.ListClients(ctx, store.Page{Limit: maxFilterChoices}); err != nil {
			return err
		}
		if av.Update, err = h.updateOptions(ctx, p); err != nil {
			return err
		}
		if av.Run, err = h.runOptions(ctx, p, "bulk-run"); err != nil {
			return err
		}
		if canAssign {
			if av.Policies, err = h.cfg.DB.ListPolicies(ctx); err != nil {
				return err
			}
		}
		if av.Update != nil {
			// The release page links here to roll a choice of agents back.
			av.Update.Release, av.Update.Rollback = r.URL.Query().Get("release"), r.URL.Query().Get("rollback") == "1"
		}
	}

	v := view{Title: "Agents", Nav: "agents", Page: av}
	if !partial {
		return h.render(w, r, http.StatusOK, "agents", "", v)
	}
	if fromFilters {
		// The form posts every field, empty ones too; show the clean URL.
		w.Header().Set("HX-Push-Url", av.Self)
	}
	return h.render(w, r, http.StatusOK, "agents", "agents-fragment", v)
}
