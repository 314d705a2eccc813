package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// SessionRelay lists and ends the live remote sessions (relay.Relay).
type SessionRelay interface {
	List(ctx context.Context, p access.Principal, pg store.Page) ([]store.RemoteSession, error)
	End(ctx context.Context, p access.Principal, id string) error
}

// sessionsView is the live sessions page.
type sessionsView struct {
	Sessions []store.RemoteSession
	Ended    string // the session just ended, for the notice
}

// sessionsPage serves GET /sessions: the live remote sessions, for those
// who may end them.
func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Relay == nil {
		return errNotFound
	}
	live, err := h.cfg.Relay.List(r.Context(), p, store.Page{Limit: maxFilterChoices})
	if err != nil {
		return err
	}
	v := sessionsView{Sessions: live, Ended: r.URL.Query().Get("ended")}
	return h.render(w, r, http.StatusOK, "sessions", "", view{Title: "Remote sessions", Nav: "sessions", Page: v})
}

// endSession serves POST /sessions/{id}/end.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Relay == nil {
		return errNotFound
	}
	id := r.PathValue("id")
	if err := h.cfg.Relay.End(r.Context(), p, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/sessions?ended="+url.QueryEscape(id), http.StatusSeeOther)
	return nil
}
