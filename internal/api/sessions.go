package api

import (
	"errors"
	"net/http"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/relay"
	"github.com/steward-rmm/steward/internal/store"
)

type sessionBody struct {
	Kind string `json:"kind"`
	Cols int    `json:"cols,omitempty"`
	Rows int    `json:"rows,omitempty"`
}

// openSession asks the agent for a remote session and answers with the
// URL the browser dials (see relay.Relay.Open).
func (a *API) openSession(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body sessionBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	o, err := a.cfg.Relay.Open(r.Context(), p, relay.Request{AgentID: r.PathValue("id"), Kind: body.Kind, Cols: body.Cols, Rows: body.Rows})
	switch {
	case errors.Is(err, relay.ErrOffline):
		return &badRequest{status: http.StatusConflict, msg: "the agent is not connected; a remote session needs it online"}
	case errors.Is(err, relay.ErrBusy):
		w.Header().Set("Retry-After", "10")
		return &badRequest{status: http.StatusServiceUnavailable, msg: err.Error()}
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, o)
	return nil
}

// connectSession is the browser's side of a session: a WebSocket for the
// caller who opened it, with the single-use token of its browser_url.
func (a *API) connectSession(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	a.cfg.Relay.ServeBrowser(w, r, p, r.PathValue("id"), r.URL.Query().Get("token"))
	return nil
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, err := a.cfg.Relay.List(r.Context(), p, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.RemoteSession]{Items: items, Total: pg.Offset + len(items), Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := a.cfg.Relay.End(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
