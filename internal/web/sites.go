package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// lifetime is an expiry choice of the token form.
type lifetime struct {
	Value, Label string
	d            time.Duration
}

// tokenLifetimes are the expiry choices, in order.
var tokenLifetimes = []lifetime{
	{"1h", "1 hour", time.Hour},
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour},
}

// defaultLifetime is preselected: long enough for a day's installs.
const defaultLifetime = "24h"

// tokenRow is an enrollment token as the site page lists it.
type tokenRow struct {
	store.EnrollmentToken
	State string
}

// tokenForm carries the token form's values and error back to the page.
type tokenForm struct {
	ExpiresIn string
	MaxUses   string
	Error     string
	Field     string
}

// siteView is the data of a site's page.
type siteView struct {
	Site      store.Site
	Tokens    []tokenRow
	Form      tokenForm
	AgentsURL string
	// Scope is the site's monitoring panel.
	Scope *scopeView
	// Warnings are the public URL's, shown above the token form.
	Warnings []string
	// Channel is the site's release channel selector.
	Channel *releaseChannelForm
	// Update holds the choices of "Update agents now"; nil hides it.
	Update *updateOptions
}

// Lifetimes lists the expiry choices.
func (siteView) Lifetimes() []lifetime { return tokenLifetimes }

// sitePage serves GET /sites/{id}.
func (h *Handler) sitePage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderSite(w, r, http.StatusOK, tokenForm{ExpiresIn: defaultLifetime, MaxUses: "0"})
}

func (h *Handler) renderSite(w http.ResponseWriter, r *http.Request, status int, form tokenForm) error {
	return h.renderSiteWith(w, r, status, form, "")
}

// renderSiteWith is renderSite with the channel selector's error.
func (h *Handler) renderSiteWith(w http.ResponseWriter, r *http.Request, status int, form tokenForm, channelErr string) error {
	ctx := r.Context()
	s, err := h.cfg.DB.Site(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	toks, err := h.cfg.DB.ListEnrollmentTokens(ctx, s.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	rows := make([]tokenRow, len(toks))
	for i, t := range toks {
		rows[i] = tokenRow{EnrollmentToken: t, State: t.State(now)}
	}
	sv := siteView{Site: s, Tokens: rows, Form: form, AgentsURL: agentQuery{Client: s.ClientID, Site: s.ID}.url(),
		Warnings: h.installWarnings()}
	if sv.Scope, err = h.scope(ctx, siteScope(s)); err != nil {
		return err
	}
	own, err := h.cfg.DB.UpdateChannelOf(ctx, store.LevelSite, s.ID)
	if err != nil {
		return err
	}
	inherited, err := h.inheritedChannel(ctx, s.ClientID, "")
	if err != nil {
		return err
	}
	if sv.Channel, err = h.releaseChannelForm(ctx, "/sites/"+url.PathEscape(s.ID)+"/channel", own, inherited, channelErr); err != nil {
		return err
	}
	if sv.Update, err = h.updateOptions(ctx, principalOf(r)); err != nil {
		return err
	}
	return h.render(w, r, status, "site", "", view{Title: s.Name + " · " + s.ClientName, Nav: "clients", Page: sv})
}

// tokenView is the page that shows a new token, the only time it is ever
// visible, with the commands that install an agent with it.
type tokenView struct {
	Site  store.Site
	Token store.EnrollmentToken
	// Secret is empty once it was shown: Steward keeps only its hash.
	Secret   string
	Commands []installCommand
	// Warnings say why the install commands may not work from other
	// machines (a loopback or plain-http public URL).
	Warnings []string
}

// newTokenCookie carries a new token's secret across the redirect after
// its creation, to the one page view that shows it; a reload of that page
// shows the token without its secret instead of minting another.
const newTokenCookie = "steward_new_token"

// newTokenTTL bounds how long the secret waits for its page.
const newTokenTTL = 2 * time.Minute

// createToken serves POST /sites/{id}/tokens.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	form := tokenForm{ExpiresIn: r.PostFormValue("expires_in"), MaxUses: strings.TrimSpace(r.PostFormValue("max_uses"))}
	// Unparseable values go to manage as out-of-range ones, so that the
	// permission check there comes first and the message is the same.
	var expiresIn time.Duration
	for _, l := range tokenLifetimes {
		if l.Value == form.ExpiresIn {
			expiresIn = l.d
		}
	}
	maxUses := 0
	if form.MaxUses != "" {
		n, err := strconv.Atoi(form.MaxUses)
		if err != nil {
			n = -1
		}
		maxUses = n
	}
	siteID := r.PathValue("id")
	secret, tok, err := h.cfg.Manage.CreateEnrollmentToken(r.Context(), p, siteID, expiresIn, maxUses)
	if pr, ok := formProblem(err); ok {
		form.Error, form.Field = pr.Message, pr.Field
		return h.renderSite(w, r, pr.Status, form)
	}
	if err != nil {
		return err
	}
	// Redirect after the post, so a reload cannot mint another token.
	http.SetCookie(w, &http.Cookie{
		Name: newTokenCookie, Value: secret, Path: "/tokens/" + url.PathEscape(tok.ID),
		MaxAge: int(newTokenTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: access.IsTLS(r, h.cfg.TrustProxy),
	})
	http.Redirect(w, r, "/tokens/"+url.PathEscape(tok.ID), http.StatusSeeOther)
	return nil
}

// tokenPage serves GET /tokens/{id}: the token just created, with its
// secret and install commands the first time, without them after.
func (h *Handler) tokenPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	tok, err := h.cfg.DB.EnrollmentToken(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	s, err := h.cfg.DB.Site(ctx, tok.SiteID)
	if err != nil {
		return err
	}
	tv := tokenView{Site: s, Token: tok, Warnings: h.installWarnings()}
	if c, err := r.Cookie(newTokenCookie); err == nil && strings.HasPrefix(c.Value, tok.Prefix) {
		tv.Secret = c.Value
		tv.Commands = installCommands(h.publicURL, c.Value, agentSums(h.cfg.AgentDir, agentDownloadNames(), h.log))
		http.SetCookie(w, &http.Cookie{Name: newTokenCookie, Path: "/tokens/" + url.PathEscape(tok.ID), MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: access.IsTLS(r, h.cfg.TrustProxy)})
	}
	return h.render(w, r, http.StatusOK, "token", "", view{Title: "Enrollment token", Nav: "clients", Page: tv})
}

// revokeToken serves POST /tokens/{id}/revoke.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	tok, err := h.cfg.Manage.RevokeEnrollmentToken(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/sites/"+url.PathEscape(tok.SiteID), http.StatusSeeOther)
	return nil
}
