package api

import (
	"net/http"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AlertFilter{State: q.Get("state"), AgentID: q.Get("agent_id"), ClientID: q.Get("client_id"),
		SiteID: q.Get("site_id"), Severity: q.Get("severity"), Query: strings.TrimSpace(q.Get("q"))}
	if len(f.Query) > 200 {
		return errBadRequest("q must be at most 200 bytes")
	}
	switch f.State {
	case "", "open", "acknowledged", "resolved", "unresolved":
	default:
		return errBadRequest("state must be open, acknowledged, resolved or unresolved")
	}
	switch f.Severity {
	case "", "info", "warning", "critical":
	default:
		return errBadRequest("severity must be info, warning or critical")
	}
	items, total, err := a.cfg.DB.ListAlerts(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Alert]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

type alertIDs struct {
	IDs []string `json:"ids"`
}

// changeAlerts acknowledges or resolves alerts, one or many: stored,
// audited and, for resolutions, notified by the alerting service.
func (a *API) changeAlerts(w http.ResponseWriter, r *http.Request, p access.Principal, ids []string, resolve bool) error {
	out, err := a.cfg.Alerts.Handle(r.Context(), p, ids, resolve)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Alert]{Items: out, Total: len(out), Limit: len(out)})
	return nil
}

func (a *API) acknowledgeAlert(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return a.changeAlerts(w, r, p, []string{r.PathValue("id")}, false)
}

func (a *API) resolveAlert(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return a.changeAlerts(w, r, p, []string{r.PathValue("id")}, true)
}

func (a *API) acknowledgeAlerts(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body alertIDs
	if err := decode(w, r, &body); err != nil {
		return err
	}
	return a.changeAlerts(w, r, p, body.IDs, false)
}

func (a *API) resolveAlerts(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body alertIDs
	if err := decode(w, r, &body); err != nil {
		return err
	}
	return a.changeAlerts(w, r, p, body.IDs, true)
}
