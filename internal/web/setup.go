package web

import (
	"errors"
	"net/http"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
)

// setupView is the data of the first-run page.
type setupView struct {
	Token       string
	Email       string
	Error       string
	Field       string
	MinPassword int
}

var errSetupToken = &statusError{http.StatusForbidden,
	"This setup link is not valid. Use the link the server printed in its log when it started."}

// errSetupDone answers a setup link once an account exists: the route is
// gone (404), and the page says what to do instead.
var errSetupDone = &statusError{http.StatusNotFound,
	"Setup is done: an owner account exists. Sign in with it, or ask an owner to create an account for you."}

// setup serves /setup for every method. Once any user exists, created here
// or from the console while the server runs, the route does not exist: 404
// for every method and token, before anything else is looked at.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request) error {
	has, err := h.cfg.DB.HasUsers(r.Context())
	if err != nil {
		return err
	}
	if has || h.cfg.Setup == nil {
		return errSetupDone
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !h.cfg.Setup.Valid(r.URL.Query().Get("token")) {
			return errSetupToken
		}
		return h.renderSetup(w, r, http.StatusOK, setupView{Token: r.URL.Query().Get("token")})
	case http.MethodPost:
		return h.createOwner(w, r)
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	return &statusError{http.StatusMethodNotAllowed, "This page only accepts GET and POST."}
}

func (h *Handler) renderSetup(w http.ResponseWriter, r *http.Request, status int, sv setupView) error {
	sv.MinPassword = auth.MinPasswordLen
	return h.render(w, r, status, "setup", "", view{Title: "Set up Steward", Page: sv})
}

func (h *Handler) createOwner(w http.ResponseWriter, r *http.Request) error {
	if !access.CSRFValid(r) {
		return errCSRF
	}
	token := r.PostFormValue("token")
	if !h.cfg.Setup.Valid(token) {
		return errSetupToken
	}
	sv := setupView{Token: token, Email: r.PostFormValue("email")}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("confirm") {
		sv.Error, sv.Field = "The two passwords do not match.", "confirm"
		return h.renderSetup(w, r, http.StatusBadRequest, sv)
	}
	u, err := h.cfg.Manage.CreateFirstOwner(r.Context(), h.cfg.Auth.ClientIP(r), sv.Email, password)
	if errors.Is(err, store.ErrConflict) {
		return errSetupDone // someone else finished setup first
	}
	var inv *input.Error
	if errors.As(err, &inv) {
		pr := classify(err)
		sv.Error, sv.Field = pr.Message, pr.Field
		return h.renderSetup(w, r, pr.Status, sv)
	}
	if err != nil {
		return err
	}
	h.cfg.Setup.Close()
	if err := h.cfg.Auth.StartSession(r.Context(), w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
