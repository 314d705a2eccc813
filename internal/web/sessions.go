package web

import (
	"context"
	"errors"
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

// sessionRow is a live session with its agent's name.
type sessionRow struct {
	store.RemoteSession
	Hostname string
}

// sessionsView is the live sessions page.
type sessionsView struct {
	Sessions []sessionRow
	Ended    string // the session just ended, for the notice
}

// sessionsPage serves GET /sessions: the live remote sessions, for those
// who may end them.
func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Relay == nil {
		return errNotFound
	}
	ctx := r.Context()
	live, err := h.cfg.Relay.List(ctx, p, store.Page{Limit: maxFilterChoices})
	if err != nil {
		return err
	}
	v := sessionsView{Ended: r.URL.Query().Get("ended")}
	for _, s := range live {
		row := sessionRow{RemoteSession: s, Hostname: s.AgentID}
		if a, err := h.cfg.DB.Agent(ctx, s.AgentID); err == nil {
			row.Hostname = a.Hostname
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		v.Sessions = append(v.Sessions, row)
	}
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
