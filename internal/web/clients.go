package web

import (
	"net/http"
	"net/url"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// formView carries a form's submitted value and its error back to the page.
type formView struct {
	Name  string
	Error string
	Field string
}

// clientsView is the data of the clients page.
type clientsView struct {
	Clients []store.Client
	Pager   pager
	Form    formView
	// Alerts holds each client's unresolved alert counts, by client ID.
	Alerts map[string][]severityCount
	// Maintenance holds the clients in a maintenance window now.
	Maintenance map[string]bool
}

// clientsPage serves GET /clients.
func (h *Handler) clientsPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderClients(w, r, http.StatusOK, formView{})
}

func (h *Handler) renderClients(w http.ResponseWriter, r *http.Request, status int, form formView) error {
	page := pageNumber(r.URL.Query())
	clients, total, err := h.cfg.DB.ListClients(r.Context(), store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	counts, err := h.cfg.DB.UnresolvedAlertCounts(r.Context(), store.LevelClient)
	if err != nil {
		return err
	}
	cv := clientsView{Clients: clients, Pager: newPager("/clients", url.Values{}, page, len(clients), total), Form: form,
		Alerts: map[string][]severityCount{}}
	for _, c := range clients {
		cv.Alerts[c.ID] = countsOf(counts[c.ID], alertQuery{Client: c.ID})
	}
	if cv.Maintenance, err = h.inMaintenance(r.Context(), store.LevelClient); err != nil {
		return err
	}
	return h.render(w, r, status, "clients", "", view{Title: "Clients", Nav: "clients", Page: cv})
}

// createClient serves POST /clients.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	name := r.PostFormValue("name")
	c, err := h.cfg.Manage.CreateClient(r.Context(), p, name)
	if pr, ok := formProblem(err); ok {
		return h.renderClients(w, r, pr.Status, formView{Name: name, Error: pr.Message, Field: pr.Field})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/clients/"+url.PathEscape(c.ID), http.StatusSeeOther)
	return nil
}

// clientView is the data of a client's page.
type clientView struct {
	Client store.Client
	Sites  []store.Site
	Pager  pager
	Form   formView
	// AgentsURL lists the client's agents.
	AgentsURL string
	// Scope is the client's monitoring panel.
	Scope *scopeView
	// SiteAlerts holds each site's unresolved alert counts, by site ID.
	SiteAlerts map[string][]severityCount
	// SiteMaintenance holds the sites in a maintenance window of their own now.
	SiteMaintenance map[string]bool
	// Channel is the client's release channel selector.
	Channel *releaseChannelForm
	// Update holds the choices of "Update agents now"; nil hides it.
	Update *updateOptions
}

// clientPage serves GET /clients/{id}.
func (h *Handler) clientPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderClient(w, r, http.StatusOK, formView{})
}

func (h *Handler) renderClient(w http.ResponseWriter, r *http.Request, status int, form formView) error {
	return h.renderClientWith(w, r, status, form, "")
}

// renderClientWith is renderClient with the channel selector's error.
func (h *Handler) renderClientWith(w http.ResponseWriter, r *http.Request, status int, form formView, channelErr string) error {
	ctx := r.Context()
	c, err := h.cfg.DB.Client(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	page := pageNumber(r.URL.Query())
	sites, total, err := h.cfg.DB.ListSites(ctx, c.ID, store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	cv := clientView{
		Client: c, Sites: sites, Form: form,
		Pager:     newPager("/clients/"+url.PathEscape(c.ID), url.Values{}, page, len(sites), total),
		AgentsURL: agentQuery{Client: c.ID}.url(), SiteAlerts: map[string][]severityCount{},
	}
	if cv.Scope, err = h.scope(ctx, clientScope(c)); err != nil {
		return err
	}
	own, err := h.cfg.DB.UpdateChannelOf(ctx, store.LevelClient, c.ID)
	if err != nil {
		return err
	}
	if cv.Channel, err = h.releaseChannelForm(ctx, "/clients/"+url.PathEscape(c.ID)+"/channel", own,
		store.DefaultUpdateChannel+", the default", channelErr); err != nil {
		return err
	}
	if cv.Update, err = h.updateOptions(ctx, principalOf(r)); err != nil {
		return err
	}
	counts, err := h.cfg.DB.UnresolvedAlertCounts(ctx, store.LevelSite)
	if err != nil {
		return err
	}
	for _, s := range sites {
		cv.SiteAlerts[s.ID] = countsOf(counts[s.ID], alertQuery{Client: c.ID, Site: s.ID})
	}
	if cv.SiteMaintenance, err = h.inMaintenance(ctx, store.LevelSite); err != nil {
		return err
	}
	return h.render(w, r, status, "client", "", view{Title: c.Name, Nav: "clients", Page: cv})
}

// createSite serves POST /clients/{id}/sites.
func (h *Handler) createSite(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	name := r.PostFormValue("name")
	s, err := h.cfg.Manage.CreateSite(r.Context(), p, r.PathValue("id"), name)
	if pr, ok := formProblem(err); ok {
		return h.renderClient(w, r, pr.Status, formView{Name: name, Error: pr.Message, Field: pr.Field})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/sites/"+url.PathEscape(s.ID), http.StatusSeeOther)
	return nil
}
