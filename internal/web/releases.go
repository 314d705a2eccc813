package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// releaseSteps are the steps of an update, in the order an agent goes
// through them, then the ways it ends badly: the columns of the progress
// counts.
var releaseSteps = []string{
	store.UpdateOffered, protocol.UpdateWaiting, protocol.UpdateDownloading, protocol.UpdateVerified, protocol.UpdateSwapped,
	protocol.UpdateConfirmed, protocol.UpdateRefused, protocol.UpdateFailed, protocol.UpdateRolledBack, protocol.UpdateCancelled,
}

// releaseStatuses are the statuses the list filters by.
var releaseStatuses = []string{store.ReleaseActive, store.ReleaseHalted, store.ReleaseWithdrawn}

// stepCount is the number of agents at one step of a release.
type stepCount struct {
	Step string
	N    int
}

// stepCounts orders a release's step counts, leaving out empty steps.
func stepCounts(m map[string]int) []stepCount {
	out := []stepCount{}
	for _, s := range releaseSteps {
		if m[s] > 0 {
			out = append(out, stepCount{s, m[s]})
		}
	}
	// Steps this page does not know yet still show, after the others.
	var rest []string
	for s, n := range m {
		if n > 0 && !slices.Contains(releaseSteps, s) {
			rest = append(rest, s)
		}
	}
	slices.Sort(rest)
	for _, s := range rest {
		out = append(out, stepCount{s, m[s]})
	}
	return out
}

// releaseRow is a release as the list shows it.
type releaseRow struct {
	store.Release
	Steps []stepCount
}

// releaseForm carries the upload form's values and error back to the page.
type releaseForm struct {
	Channel, Notes string
	Error, Field   string
}

// releasesView is the data of the releases page.
type releasesView struct {
	Releases []releaseRow
	Pager    pager
	// Channel and Status are the filters.
	Channel, Status string
	Channels        []string
	Statuses        []string
	Form            releaseForm
	// NoKeys says the server trusts no release key: nothing can be published.
	NoKeys bool
	// MaxBytes is the largest file the server takes.
	MaxBytes int64
}

// MaxSize is MaxBytes for people.
func (v releasesView) MaxSize() string { return policy.HumanBytes(v.MaxBytes) }

// releasesPage serves GET /releases.
func (h *Handler) releasesPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderReleases(w, r, http.StatusOK, releaseForm{Channel: manage.ChannelStable})
}

func (h *Handler) renderReleases(w http.ResponseWriter, r *http.Request, status int, form releaseForm) error {
	ctx := r.Context()
	q := r.URL.Query()
	rv := releasesView{Channel: q.Get("channel"), Status: q.Get("status"), Statuses: releaseStatuses, Form: form,
		NoKeys: len(h.cfg.ReleaseKeys) == 0, MaxBytes: protocol.MaxReleaseBytes}
	if !slices.Contains(releaseStatuses, rv.Status) {
		rv.Status = ""
	}
	page := pageNumber(q)
	rels, total, err := h.cfg.DB.ListReleases(ctx, store.ReleaseFilter{Channel: rv.Channel, Status: rv.Status},
		store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	for _, rel := range rels {
		// One small grouped count per row of a 50-row page.
		counts, err := h.cfg.DB.ReleaseStepCounts(ctx, rel.ID)
		if err != nil {
			return err
		}
		rv.Releases = append(rv.Releases, releaseRow{Release: rel, Steps: stepCounts(counts)})
	}
	base := url.Values{}
	if rv.Channel != "" {
		base.Set("channel", rv.Channel)
	}
	if rv.Status != "" {
		base.Set("status", rv.Status)
	}
	rv.Pager = newPager("/releases", base, page, len(rels), total)
	if rv.Channels, err = h.channelNames(ctx); err != nil {
		return err
	}
	return h.render(w, r, status, "releases", "", view{Title: "Releases", Nav: "releases", Page: rv})
}

// channelNames lists stable, beta and every other channel in use.
func (h *Handler) channelNames(ctx context.Context) ([]string, error) {
	names, err := h.cfg.DB.UpdateChannelNames(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{manage.ChannelStable, manage.ChannelBeta}
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// publishRelease serves POST /releases: the upload form, posted as
// multipart/form-data. It reads the body as a stream (the CSRF token is
// the form's first part), spools the file with the API's own reader and
// publishes through the same manage service.
func (h *Handler) publishRelease(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return &statusError{http.StatusUnsupportedMediaType, "The upload form must be sent as multipart/form-data."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, protocol.MaxReleaseBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return &statusError{http.StatusBadRequest, "The upload could not be read. Try again."}
	}
	// The form puts the token first, so that it is checked before
	// hundreds of megabytes are read.
	first, err := mr.NextPart()
	if err != nil || first.FormName() != access.CSRFField {
		return errCSRF
	}
	tok, err := io.ReadAll(io.LimitReader(first, 256))
	if err != nil || !csrfMatches(r, string(tok)) {
		return errCSRF
	}
	up, err := manage.ReadReleaseUpload(mr)
	var refusal *manage.UploadRefusal
	if errors.As(err, &refusal) {
		status := http.StatusBadRequest
		if refusal.TooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		// The text parts may not have been read: keep what was.
		form := releaseForm{Error: upperFirst(refusal.Msg) + ".", Field: refusal.Field}
		if form.Field != "file" && form.Field != "signature" && form.Field != "channel" && form.Field != "notes" {
			form.Field = "file"
		}
		return h.renderReleases(w, r, status, form)
	}
	if err != nil {
		return err
	}
	defer up.Close()
	form := releaseForm{Channel: up.Channel, Notes: up.Notes}
	rel, err := h.cfg.Manage.PublishRelease(r.Context(), p, h.cfg.ReleaseKeys, up.Signed, up.Channel, up.Notes, up.File)
	if errors.Is(err, manage.ErrNoReleaseKeys) {
		form.Error, form.Field = upperFirst(err.Error())+".", "signature"
		return h.renderReleases(w, r, http.StatusConflict, form)
	}
	if pr, ok := formProblem(err); ok {
		form.Error, form.Field = pr.Message, pr.Field
		if form.Field == "version" {
			form.Field = "file"
		}
		return h.renderReleases(w, r, pr.Status, form)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/releases/"+url.PathEscape(rel.ID), http.StatusSeeOther)
	return nil
}

// csrfMatches checks a token read from a multipart body against the
// CSRF cookie, through the header path of access.CSRFValid so that the
// body is not parsed a second time.
func csrfMatches(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	c := r.Clone(r.Context())
	c.Header.Set(access.CSRFHeader, strings.TrimSpace(token))
	return access.CSRFValid(c)
}

// releaseView is the data of a release's page.
type releaseView struct {
	Release store.Release
	Steps   []stepCount
	Agents  []store.AgentUpdate
	Pager   pager
	Error   string
	// RollbackError is why a rollback instruction was refused.
	RollbackError string
	// Rollback holds the spread choices of "Roll back agents" and Targets
	// the clients and sites it can name; nil when the user cannot update
	// agents.
	Rollback *updateOptions
	Targets  []targetRef
}

// CanRollBack says "Roll back agents" can be offered: the release is
// active and carries a signed rollback instruction.
func (v releaseView) CanRollBack() bool {
	return v.Rollback != nil && v.Release.RollbackAllowed && v.Release.Status == store.ReleaseActive
}

// AgentsURL lists the agents of the release's platform, with the bulk
// bar set to roll them back to it.
func (v releaseView) AgentsURL() string {
	return "/agents?" + url.Values{"os": {v.Release.OS}, "release": {v.Release.ID}, "rollback": {"1"}}.Encode()
}

// CanHalt, CanResume and CanWithdraw say which buttons the status allows.
func (v releaseView) CanHalt() bool     { return v.Release.Status == store.ReleaseActive }
func (v releaseView) CanResume() bool   { return v.Release.Status == store.ReleaseHalted }
func (v releaseView) CanWithdraw() bool { return v.Release.Status != store.ReleaseWithdrawn }

// releasePage serves GET /releases/{id}.
func (h *Handler) releasePage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderRelease(w, r, http.StatusOK, "")
}

func (h *Handler) renderRelease(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	return h.renderReleaseWith(w, r, status, msg, "")
}

// renderReleaseWith is renderRelease with the rollback form's error.
func (h *Handler) renderReleaseWith(w http.ResponseWriter, r *http.Request, status int, msg, rollbackErr string) error {
	ctx := r.Context()
	rel, err := h.cfg.DB.GetRelease(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	page := pageNumber(r.URL.Query())
	items, total, err := h.cfg.DB.ReleaseUpdates(ctx, rel.ID, store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	counts, err := h.cfg.DB.ReleaseStepCounts(ctx, rel.ID)
	if err != nil {
		return err
	}
	rv := releaseView{Release: rel, Steps: stepCounts(counts), Agents: items, Error: msg, RollbackError: rollbackErr,
		Pager: newPager("/releases/"+url.PathEscape(rel.ID), url.Values{}, page, len(items), total)}
	if rv.Rollback, err = h.updateOptions(ctx, principalOf(r)); err != nil {
		return err
	}
	if rv.CanRollBack() {
		scopes, err := h.assignScopes(ctx, targetRef{})
		if err != nil {
			return err
		}
		rv.Targets = scopes[1:] // not the default level: a rollback names a client or a site
	}
	title := fmt.Sprintf("Release %s %s/%s", rel.Version, rel.OS, rel.Arch)
	return h.render(w, r, status, "release", "", view{Title: title, Nav: "releases", Page: rv})
}

// setReleaseStatus returns the handler of POST /releases/{id}/halt,
// /resume and /withdraw; manage audits the change as the API's does.
func (h *Handler) setReleaseStatus(status string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, p access.Principal) error {
		_, err := h.cfg.Manage.SetReleaseStatus(r.Context(), p, r.PathValue("id"), status)
		if pr, ok := formProblem(err); ok {
			return h.renderRelease(w, r, pr.Status, pr.Message)
		}
		if err != nil {
			return err
		}
		http.Redirect(w, r, "/releases/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
		return nil
	}
}

// allowRollback serves POST /releases/{id}/rollback: the upload of the
// rollback instruction `steward release sign --rollback` wrote, stored
// through the same manage service as POST /api/v1/releases/{id}/rollback
// (which checks it against the trusted keys and the release, and audits it).
func (h *Handler) allowRollback(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := h.cfg.DB.GetRelease(r.Context(), id); err != nil {
		return err
	}
	b, err := postedStatement(r)
	if err == nil {
		var rb protocol.SignedRollback
		if rb, err = protocol.DecodeSignedRollback(b); err != nil {
			return h.renderReleaseWith(w, r, http.StatusBadRequest, "",
				"This is not a rollback instruction of steward release sign --rollback: "+strings.TrimPrefix(err.Error(), "decode rollback instruction: ")+".")
		}
		_, err = h.cfg.Manage.AllowRollback(r.Context(), p, h.cfg.ReleaseKeys, id, rb)
	}
	if errors.Is(err, manage.ErrNoReleaseKeys) {
		return h.renderReleaseWith(w, r, http.StatusConflict, "", upperFirst(err.Error())+".")
	}
	if pr, ok := formProblem(err); ok {
		return h.renderReleaseWith(w, r, pr.Status, "", pr.Message)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/releases/"+url.PathEscape(id)+"#rollback", http.StatusSeeOther)
	return nil
}
