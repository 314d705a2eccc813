package web

import (
	"net/http"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// homeView is the data of the home page.
type homeView struct {
	Total, Online, Offline int
	Clients, Sites         int
	// Lost are the offline agents, most recently lost first.
	Lost []store.Agent
	// Alerts counts the unresolved alerts of each severity, most serious
	// first.
	Alerts []severityCount
	// Outdated counts the agents still on an older policy revision.
	Outdated int
}

// severityCount is a home page tile: unresolved alerts of one severity.
type severityCount struct {
	Severity string
	Label    string
	N        int
	// URL lists those alerts.
	URL string
}

// homeLost is how many offline agents the home page lists.
const homeLost = 15

// homePage serves GET /: fleet counts and the agents that went offline
// most recently. An htmx request (the live refresh) gets just that part.
func (h *Handler) homePage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	counts, err := h.cfg.DB.CountAgents(ctx)
	if err != nil {
		return err
	}
	_, clients, err := h.cfg.DB.ListClients(ctx, store.Page{Limit: 1})
	if err != nil {
		return err
	}
	_, sites, err := h.cfg.DB.ListSites(ctx, "", store.Page{Limit: 1})
	if err != nil {
		return err
	}
	f := store.AgentFilter{Sort: "-last_seen"}
	f.SetStatus(store.StatusOffline)
	lost, _, err := h.cfg.DB.ListAgents(ctx, f, store.Page{Limit: homeLost})
	if err != nil {
		return err
	}
	hv := homeView{
		Total: counts.Total, Online: counts.Online, Offline: counts.Total - counts.Online - counts.Uninstalled,
		Clients: clients, Sites: sites, Lost: lost,
	}
	if hv.Alerts, err = h.severityCounts(ctx, alertQuery{}); err != nil {
		return err
	}
	if hv.Outdated, err = h.cfg.Policies.CountOutdated(ctx); err != nil {
		return err
	}
	block := ""
	if isPartial(r) {
		block = "home-live"
	}
	return h.render(w, r, http.StatusOK, "home", block, view{Title: "Home", Nav: "home", Page: hv})
}
