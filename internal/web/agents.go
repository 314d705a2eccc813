package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// agentQuery is the state of the agents list, kept in the URL so any view
// of it can be bookmarked and shared.
type agentQuery struct {
	Q      string // hostname, IP or user
	Client string
	Site   string
	Status string // "", "online" or "offline"
	OS     string
	Sort   string // store.AgentFilter.Sort
	Page   int
}

func parseAgentQuery(v url.Values) agentQuery {
	q := agentQuery{
		Q:      strings.TrimSpace(v.Get("q")),
		Client: v.Get("client"),
		Site:   v.Get("site"),
		Status: v.Get("status"),
		OS:     v.Get("os"),
		Sort:   v.Get("sort"),
		Page:   pageNumber(v),
	}
	if len(q.Q) > 200 {
		q.Q = q.Q[:200]
	}
	if q.Status != "online" && q.Status != "offline" {
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
	if q.Status != "" {
		online := q.Status == "online"
		f.Online = &online
	}
	return f
}

// agentColumn is a header of the agents table.
type agentColumn struct {
	Label string
	// URL sorts by this column; empty when the column cannot be sorted.
	URL string
	// Dir is "ascending" or "descending" on the column sorted by.
	Dir string
}

// agentColumns lists the table's columns with their sort keys. Columns
// where the latest or "online" is the interesting end sort descending on
// first click.
var agentColumns = []struct {
	label, key string
	descFirst  bool
}{
	{"Status", "status", true},
	{"Hostname", "hostname", false},
	{"Client", "client", false},
	{"Site", "site", false},
	{"OS", "os", false},
	{"Agent", "version", false},
	{"Last seen", "last_seen", true},
	{"IP address", "", false},
}

func (q agentQuery) columns() []agentColumn {
	current, desc := strings.TrimPrefix(q.Sort, "-"), strings.HasPrefix(q.Sort, "-")
	if current == "" {
		current = "hostname"
	}
	out := make([]agentColumn, 0, len(agentColumns))
	for _, c := range agentColumns {
		col := agentColumn{Label: c.label}
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

// agentsView is the data of the agents page.
type agentsView struct {
	Query   agentQuery
	Self    string
	Agents  []store.Agent
	Columns []agentColumn
	Pager   pager
	// Filter controls, loaded only when they are rendered.
	Clients []store.Client
	Sites   []store.Site
	// OOB asks the fragment to also refresh the filter controls that
	// depend on the result (site choices, sort), for htmx swaps that the
	// filter form or a header link started.
	OOB bool
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
func (h *Handler) agentsPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	q := parseAgentQuery(r.URL.Query())
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
		Pager: newPager("/agents", q.values(), q.Page, len(agents), total),
	}
	if !partial {
		if av.Clients, _, err = h.cfg.DB.ListClients(ctx, store.Page{Limit: maxFilterChoices}); err != nil {
			return err
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
