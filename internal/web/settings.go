package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
)

// channelSeverities are the minimum-severity choices, least serious first.
var channelSeverities = []string{"info", "warning", "critical"}

// smtpSecurities are the connection security choices of the SMTP form.
var smtpSecurities = []struct{ Value, Label string }{
	{store.SMTPStartTLS, "STARTTLS (usually port 587)"},
	{store.SMTPTLS, "TLS from the start (usually port 465)"},
	{store.SMTPNone, "None: a relay on this host only (port 25)"},
}

// maxDeliveriesShown is how much of a channel's delivery log its page shows.
const maxDeliveriesShown = 50

// channelForm is the channel form's values and the problem with them.
type channelForm struct {
	Name, Kind, URL, Recipients, MinSeverity string
	Enabled                                  bool
	Error, Field                             string
}

// formOf fills the form from a stored channel.
func formOf(c store.Channel) channelForm {
	return channelForm{Name: c.Name, Kind: c.Kind, URL: c.URL, Recipients: strings.Join(c.Recipients, "\n"),
		MinSeverity: c.MinSeverity, Enabled: c.Enabled}
}

// readChannelForm reads a posted channel form. Fields of the other kind
// are dropped: the form shows both kinds' fields.
func readChannelForm(r *http.Request, kind string) (channelForm, manage.ChannelInput) {
	f := channelForm{
		Name: r.PostFormValue("name"), Kind: kind, URL: r.PostFormValue("url"), Recipients: r.PostFormValue("recipients"),
		MinSeverity: r.PostFormValue("min_severity"), Enabled: r.PostFormValue("enabled") == "on",
	}
	in := manage.ChannelInput{Name: f.Name, Kind: kind, MinSeverity: f.MinSeverity}
	if kind == store.ChannelEmail {
		in.Recipients = strings.FieldsFunc(f.Recipients, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' })
	} else {
		in.URL, in.Secret = f.URL, r.PostFormValue("secret")
	}
	return f, in
}

// testResult is the outcome of a "send test" button.
type testResult struct {
	OK      bool
	Message string
}

func newTestResult(kind string, status int, err error) *testResult {
	what := "HTTP"
	if kind == store.ChannelEmail {
		what = "SMTP"
	}
	if err != nil {
		return &testResult{Message: err.Error()}
	}
	return &testResult{OK: true, Message: fmt.Sprintf("Delivered (%s %d).", what, status)}
}

// settingsNav is what the settings tabs need.
type settingsNav struct {
	Tab string // channels or smtp
}

// channelsView is the data of the notification channels page.
type channelsView struct {
	settingsNav
	Channels       []store.Channel
	SMTPConfigured bool
	Form           channelForm
	Severities     []string
}

// channelView is the data of one channel's page.
type channelView struct {
	settingsNav
	Channel        store.Channel
	SMTPConfigured bool
	Form           channelForm
	Severities     []string
	Deliveries     []store.Delivery
	// NewSecret is a new webhook's signing secret, shown once.
	NewSecret string
	Test      *testResult
}

// smtpForm is the SMTP form's values and the problem with them; never the
// password.
type smtpForm struct {
	Host, Port, Security, Username, From, HELO string
	Error, Field                               string
}

// smtpPageView is the data of the SMTP settings page.
type smtpPageView struct {
	settingsNav
	Configured  bool
	PasswordSet bool
	UpdatedBy   string
	Form        smtpForm
	Securities  []struct{ Value, Label string }
	// TestTo, TestError and Test belong to the "send test email" form.
	TestTo, TestError string
	Test              *testResult
}

// smtpConfigured reports whether relay settings exist, for hints.
func (h *Handler) smtpConfigured(r *http.Request) (store.SMTPSettings, bool, error) {
	s, err := h.cfg.DB.SMTPSettings(r.Context())
	if errors.Is(err, store.ErrNotFound) {
		return store.SMTPSettings{}, false, nil
	}
	return s, err == nil, err
}

// channelsPage serves GET /settings/notifications.
func (h *Handler) channelsPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.renderChannels(w, r, p, http.StatusOK, channelForm{Kind: store.ChannelWebhook, MinSeverity: "warning", Enabled: true})
}

func (h *Handler) renderChannels(w http.ResponseWriter, r *http.Request, p access.Principal, status int, form channelForm) error {
	channels, err := h.cfg.DB.ListChannels(r.Context())
	if err != nil {
		return err
	}
	for i := range channels {
		channels[i] = manage.ChannelFor(p, channels[i])
	}
	_, configured, err := h.smtpConfigured(r)
	if err != nil {
		return err
	}
	cv := channelsView{settingsNav: settingsNav{"channels"}, Channels: channels, SMTPConfigured: configured, Form: form, Severities: channelSeverities}
	return h.render(w, r, status, "settings_channels", "", view{Title: "Notification channels", Nav: "settings", Page: cv})
}

// createChannel serves POST /settings/notifications. A webhook's page
// follows at once, with its secret shown this one time.
func (h *Handler) createChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	kind := r.PostFormValue("kind")
	form, in := readChannelForm(r, kind)
	form.Enabled = true
	c, secret, err := h.cfg.Manage.CreateChannel(r.Context(), p, in)
	if pr, ok := formProblem(err); ok {
		form.Error, form.Field = pr.Message, problemField(pr)
		return h.renderChannels(w, r, p, pr.Status, form)
	}
	if err != nil {
		return err
	}
	if c.Kind != store.ChannelWebhook {
		http.Redirect(w, r, "/settings/notifications/"+url.PathEscape(c.ID), http.StatusSeeOther)
		return nil
	}
	return h.renderChannel(w, r, http.StatusCreated, c, formOf(c), func(v *channelView) { v.NewSecret = secret })
}

// problemField names the field a form problem belongs to; a name taken by
// another channel is the name field's.
func problemField(pr problem) string {
	if pr.Status == http.StatusConflict {
		return "name"
	}
	return pr.Field
}

// channelPage serves GET /settings/notifications/{id}.
func (h *Handler) channelPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	c, err := h.cfg.DB.Channel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c = manage.ChannelFor(p, c)
	return h.renderChannel(w, r, http.StatusOK, c, formOf(c), nil)
}

func (h *Handler) renderChannel(w http.ResponseWriter, r *http.Request, status int, c store.Channel, form channelForm, edit func(*channelView)) error {
	log, err := h.cfg.DB.ListDeliveries(r.Context(), c.ID, store.Page{Limit: maxDeliveriesShown})
	if err != nil {
		return err
	}
	_, configured, err := h.smtpConfigured(r)
	if err != nil {
		return err
	}
	cv := channelView{settingsNav: settingsNav{"channels"}, Channel: c, SMTPConfigured: configured, Form: form,
		Severities: channelSeverities, Deliveries: log}
	if edit != nil {
		edit(&cv)
	}
	return h.render(w, r, status, "settings_channel", "", view{Title: c.Name, Nav: "settings", Page: cv})
}

// updateChannel serves POST /settings/notifications/{id}.
func (h *Handler) updateChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	ctx := r.Context()
	c, err := h.cfg.DB.Channel(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	form, in := readChannelForm(r, c.Kind)
	in.Enabled = &form.Enabled
	_, err = h.cfg.Manage.UpdateChannel(ctx, p, c.ID, in)
	if pr, ok := formProblem(err); ok {
		form.Error, form.Field = pr.Message, problemField(pr)
		return h.renderChannel(w, r, pr.Status, c, form, nil)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/settings/notifications/"+url.PathEscape(c.ID), http.StatusSeeOther)
	return nil
}

// deleteChannel serves POST /settings/notifications/{id}/delete.
func (h *Handler) deleteChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.cfg.Manage.DeleteChannel(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/settings/notifications", http.StatusSeeOther)
	return nil
}

// testChannel serves POST /settings/notifications/{id}/test: it sends a
// test notification at once and shows the receiver's answer above the
// delivery log, where the attempt also appears.
func (h *Handler) testChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.ManageNotifications); err != nil {
		return err
	}
	ctx := r.Context()
	c, err := h.cfg.DB.Channel(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	status, sendErr := h.cfg.Notify.Test(ctx, c.ID)
	return h.renderChannel(w, r, http.StatusOK, c, formOf(c), func(v *channelView) { v.Test = newTestResult(c.Kind, status, sendErr) })
}

// canManageSettings refuses principals who may not see or change server
// settings; the SMTP page is theirs alone, as in the API.
func canManageSettings(p access.Principal) error { return allowed(p, access.ManageSettings) }

// smtpPage serves GET /settings/smtp.
func (h *Handler) smtpPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := canManageSettings(p); err != nil {
		return err
	}
	return h.renderSMTP(w, r, http.StatusOK, nil, nil)
}

// renderSMTP shows the stored settings, or form when a post failed.
func (h *Handler) renderSMTP(w http.ResponseWriter, r *http.Request, status int, form *smtpForm, edit func(*smtpPageView)) error {
	s, configured, err := h.smtpConfigured(r)
	if err != nil {
		return err
	}
	v := smtpPageView{settingsNav: settingsNav{"smtp"}, Configured: configured, PasswordSet: s.Password != "",
		UpdatedBy: s.UpdatedBy, Securities: smtpSecurities}
	switch {
	case form != nil:
		v.Form = *form
	case configured:
		v.Form = smtpForm{Host: s.Host, Port: strconv.Itoa(s.Port), Security: s.Security, Username: s.Username, From: s.From, HELO: s.HELO}
	default:
		v.Form = smtpForm{Security: store.SMTPStartTLS}
	}
	if edit != nil {
		edit(&v)
	}
	return h.render(w, r, status, "settings_smtp", "", view{Title: "Email (SMTP)", Nav: "settings", Page: v})
}

// saveSMTP serves POST /settings/smtp. An empty password keeps the stored
// one.
func (h *Handler) saveSMTP(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := canManageSettings(p); err != nil {
		return err
	}
	form := smtpForm{
		Host: r.PostFormValue("host"), Port: strings.TrimSpace(r.PostFormValue("port")), Security: r.PostFormValue("security"),
		Username: r.PostFormValue("username"), From: r.PostFormValue("from"), HELO: r.PostFormValue("helo"),
	}
	in := manage.SMTPInput{Host: form.Host, Security: form.Security, Username: form.Username,
		Password: r.PostFormValue("password"), From: form.From, HELO: form.HELO}
	var err error
	if form.Port != "" {
		if in.Port, err = strconv.Atoi(form.Port); err != nil {
			in.Port = -1 // refused by manage with its own message
		}
	}
	_, err = h.cfg.Manage.SaveSMTP(r.Context(), p, in)
	if pr, ok := formProblem(err); ok {
		form.Error, form.Field = pr.Message, pr.Field
		return h.renderSMTP(w, r, pr.Status, &form, nil)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/settings/smtp", http.StatusSeeOther)
	return nil
}

// testSMTP serves POST /settings/smtp/test: it sends a test email through
// the stored settings and shows the relay's answer.
func (h *Handler) testSMTP(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := canManageSettings(p); err != nil {
		return err
	}
	to := strings.TrimSpace(r.PostFormValue("to"))
	if _, err := mail.ParseAddress(to); err != nil {
		return h.renderSMTP(w, r, http.StatusBadRequest, nil, func(v *smtpPageView) {
			v.TestTo, v.TestError = to, "Send to must be an email address."
		})
	}
	err := h.cfg.Notify.SendTestMail(r.Context(), to)
	return h.renderSMTP(w, r, http.StatusOK, nil, func(v *smtpPageView) {
		v.TestTo, v.Test = to, newTestResult(store.ChannelEmail, 250, err)
	})
}
