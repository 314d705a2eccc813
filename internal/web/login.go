package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/store"
)

// loginView is the data of the login page.
type loginView struct {
	Email string
	Next  string
	Error string
	// SetupPending is true while no user exists: the first owner is
	// created through the setup link printed in the server log.
	SetupPending bool
}

// msgBadLogin is the same whatever was wrong, so the page does not tell
// which emails have accounts.
const msgBadLogin = "Invalid email or password."

// loginPage serves GET /login.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if _, err := h.cfg.Auth.Authenticate(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	return h.renderLogin(w, r, http.StatusOK, loginView{Next: next})
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, lv loginView) error {
	has, err := h.cfg.DB.HasUsers(r.Context())
	if err != nil {
		return err
	}
	lv.SetupPending = !has
	return h.render(w, r, status, "login", "", view{Title: "Sign in", Page: lv})
}

// login serves POST /login. Failures count against the caller's IP and
// the email tried; either limit stops further attempts for a while.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	email := store.NormalizeEmail(r.PostFormValue("email"))
	if len(email) > 254 {
		email = email[:254] // longer is never valid; keeps limiter keys small
	}
	password := r.PostFormValue("password")
	lv := loginView{Email: email, Next: safeNext(r.PostFormValue("next"))}
	ip := h.cfg.Auth.ClientIP(r)
	emailKey := "email:" + email

	okIP, waitIP := h.ipLimit.Allow(ip)
	okEmail, waitEmail := h.emailLimit.Allow(emailKey)
	if !okIP || !okEmail {
		wait := max(waitIP, waitEmail)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Round(time.Second)/time.Second)+1))
		lv.Error = "Too many failed sign-in attempts. Try again in " + waitText(wait) + "."
		return h.renderLogin(w, r, http.StatusTooManyRequests, lv)
	}

	// Count the attempt before checking it, so parallel guesses cannot
	// slip past the limit; a success takes it back.
	h.ipLimit.Fail(ip)
	h.emailLimit.Fail(emailKey)
	select {
	case h.passwordChecks <- struct{}{}:
		defer func() { <-h.passwordChecks }()
	case <-time.After(5 * time.Second):
		h.ipLimit.Undo(ip)
		h.emailLimit.Undo(emailKey)
		w.Header().Set("Retry-After", "5")
		lv.Error = "The server is busy. Try again in a few seconds."
		return h.renderLogin(w, r, http.StatusServiceUnavailable, lv)
	case <-r.Context().Done():
		return r.Context().Err()
	}

	u, err := h.cfg.DB.UserByEmail(r.Context(), email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		auth.BurnPasswordCheck(password) // same time as a wrong password
	case err != nil:
		return err
	default:
		err = auth.VerifyPassword(u.PasswordHash, password)
		if err != nil && !errors.Is(err, auth.ErrMismatch) {
			h.log.Error("stored password hash unusable", "user_id", u.ID, "err", err)
		}
	}
	if err != nil {
		lv.Error = msgBadLogin
		return h.renderLogin(w, r, http.StatusUnauthorized, lv)
	}

	h.ipLimit.Undo(ip)
	h.emailLimit.Reset(emailKey)
	if err := h.cfg.Auth.StartSession(r.Context(), w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, lv.Next, http.StatusSeeOther)
	return nil
}

// logout serves POST /logout.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.cfg.Auth.EndSession(r.Context(), w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// waitText rounds a wait up to whole minutes, or seconds under a minute.
func waitText(d time.Duration) string {
	if d < time.Minute {
		s := max(1, int((d+time.Second-1)/time.Second))
		return plural(s, "second")
	}
	return plural(int((d+time.Minute-1)/time.Minute), "minute")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	switch {
	case strings.HasSuffix(unit, "s"), strings.HasSuffix(unit, "x"):
		return num(n) + " " + unit + "es"
	case strings.HasSuffix(unit, "y") && !strings.ContainsAny(unit[len(unit)-2:len(unit)-1], "aeiou"):
		return num(n) + " " + unit[:len(unit)-1] + "ies"
	}
	return num(n) + " " + unit + "s"
}
