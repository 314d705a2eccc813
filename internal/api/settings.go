package api

import (
	"errors"
	"net/http"
	"net/mail"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
)

// smtpView is the mail relay settings as the API shows them: never the
// password, only whether one is set.
type smtpView struct {
	Configured  bool      `json:"configured"`
	Host        string    `json:"host"`
	Port        int       `json:"port"`
	Security    string    `json:"security"`
	Username    string    `json:"username"`
	PasswordSet bool      `json:"password_set"`
	From        string    `json:"from"`
	HELO        string    `json:"helo"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
}

func newSMTPView(s store.SMTPSettings) smtpView {
	return smtpView{
		Configured: true, Host: s.Host, Port: s.Port, Security: s.Security, Username: s.Username,
		PasswordSet: s.Password != "", From: s.From, HELO: s.HELO, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy,
	}
}

// canManageSettings guards the settings endpoints, reads included: the
// relay's host and account are the owner's business.
func canManageSettings(p access.Principal) error {
	if !access.Can(p, access.ManageSettings) {
		return access.ErrForbidden
	}
	return nil
}

func (a *API) getSMTP(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := canManageSettings(p); err != nil {
		return err
	}
	s, err := a.cfg.DB.SMTPSettings(r.Context())
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusOK, smtpView{})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newSMTPView(s))
	return nil
}

func (a *API) putSMTP(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Security string `json:"security"`
		Username string `json:"username"`
		Password string `json:"password"`
		From     string `json:"from"`
		HELO     string `json:"helo"`
	}
	if err := decode(w, r, &body); err != nil {
		return err
	}
	s, err := a.cfg.Manage.SaveSMTP(r.Context(), p, manage.SMTPInput{
		Host: body.Host, Port: body.Port, Security: body.Security, Username: body.Username,
		Password: body.Password, From: body.From, HELO: body.HELO,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newSMTPView(s))
	return nil
}

// testSMTP sends a test message at once; the relay's answer comes back as
// the error text.
func (a *API) testSMTP(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := canManageSettings(p); err != nil {
		return err
	}
	var body struct {
		To string `json:"to"`
	}
	if err := decode(w, r, &body); err != nil {
		return err
	}
	if _, err := mail.ParseAddress(body.To); err != nil {
		return &input.Error{Field: "to", Message: "must be an email address"}
	}
	res := map[string]any{"ok": true}
	if err := a.cfg.Notify.SendTestMail(r.Context(), body.To); err != nil {
		res = map[string]any{"ok": false, "error": err.Error()}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
