package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/updates"
)

func (a *API) listReleases(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ReleaseFilter{Channel: q.Get("channel"), OS: q.Get("os"), Arch: q.Get("arch"), Version: q.Get("version"), Status: q.Get("status")}
	items, total, err := a.cfg.DB.ListReleases(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Release]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) getRelease(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	rel, err := a.cfg.DB.GetRelease(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

// publishRelease takes a multipart/form-data upload: the binary in part
// "file", the .sig file `steward release sign` wrote in part "signature",
// "channel" (default stable) and "notes"; "version", "os" and "arch", when
// given, must match what was signed. The file is spooled to a temporary
// file first, so that the database transaction never waits on the network.
func (a *API) publishRelease(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return &badRequest{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be multipart/form-data with parts file and signature"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, protocol.MaxReleaseBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return errBadRequest("malformed multipart body: %v", err)
	}
	up, err := manage.ReadReleaseUpload(mr)
	var refusal *manage.UploadRefusal
	if errors.As(err, &refusal) {
		if refusal.TooLarge {
			return &badRequest{status: http.StatusRequestEntityTooLarge, msg: refusal.Msg}
		}
		return errBadRequest("%s", refusal.Msg)
	}
	if err != nil {
		return err
	}
	defer up.Close()
	rel, err := a.cfg.Manage.PublishRelease(r.Context(), p, a.cfg.ReleaseKeys, up.Signed, up.Channel, up.Notes, up.File)
	if errors.Is(err, manage.ErrNoReleaseKeys) {
		return &badRequest{status: http.StatusConflict, msg: err.Error()}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rel)
	return nil
}

// updateChannelBody is the body of PATCH .../channel: a channel name, or null to
// inherit.
type updateChannelBody struct {
	Channel *string `json:"channel"`
}

// setChannel returns the handler of PATCH /api/v1/{level}s/{id}/channel.
func (a *API) setChannel(level string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p access.Principal) error {
		var body updateChannelBody
		if err := decode(w, r, &body); err != nil {
			return err
		}
		id := r.PathValue("id")
		if err := a.cfg.Manage.SetUpdateChannel(r.Context(), p, level, id, body.Channel); err != nil {
			return err
		}
		ch, err := a.cfg.DB.UpdateChannelOf(r.Context(), level, id)
		if err != nil {
			return err
		}
		var out struct {
			Channel *string `json:"channel"`
		}
		if ch != "" {
			out.Channel = &ch
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (a *API) effectiveChannel(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ch, err := a.cfg.DB.EffectiveUpdateChannel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ch)
	return nil
}

// updateBody is the body of the update-now endpoints.
type updateBody struct {
	AgentIDs  []string `json:"agent_ids"`
	SiteID    string   `json:"site_id"`
	ClientID  string   `json:"client_id"`
	ReleaseID string   `json:"release_id"`
	Retry     bool     `json:"retry"`
	Rollback  bool     `json:"rollback"`
	Spread    string   `json:"spread"`
}

func (b updateBody) request() (updates.Request, error) {
	req := updates.Request{Selection: updates.Selection{AgentIDs: b.AgentIDs, SiteID: b.SiteID, ClientID: b.ClientID},
		ReleaseID: b.ReleaseID, Retry: b.Retry, Rollback: b.Rollback}
	if b.Spread != "" {
		d, err := time.ParseDuration(b.Spread)
		if err != nil {
			return updates.Request{}, errBadRequest("spread must be a duration like 30m or 2h")
		}
		req.Spread = d
	}
	return req, nil
}

func (a *API) updateNow(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body updateBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	sum, err := a.cfg.Updates.UpdateNow(r.Context(), p, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sum)
	return nil
}

func (a *API) updateAgent(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body updateBody
	if r.ContentLength != 0 {
		if err := decode(w, r, &body); err != nil {
			return err
		}
	}
	if len(body.AgentIDs) > 0 || body.SiteID != "" || body.ClientID != "" {
		return errBadRequest("the agent is in the path; use POST /api/v1/updates for a selection")
	}
	if _, err := a.cfg.DB.Agent(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	body.AgentIDs = []string{r.PathValue("id")}
	req, err := body.request()
	if err != nil {
		return err
	}
	sum, err := a.cfg.Updates.UpdateNow(r.Context(), p, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sum)
	return nil
}

func (a *API) agentUpdates(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	id := r.PathValue("id")
	agent, err := a.cfg.DB.Agent(r.Context(), id)
	if err != nil {
		return err
	}
	items, err := a.cfg.DB.AgentUpdates(r.Context(), id)
	if err != nil {
		return err
	}
	history, err := a.cfg.DB.UpdateEvents(r.Context(), id, 200)
	if err != nil {
		return err
	}
	ch, err := a.cfg.DB.EffectiveUpdateChannel(r.Context(), id)
	if err != nil {
		return err
	}
	// What each role runs: an update is complete when the watchdog, which
	// moves only after the agent's confirmation, and the trays run the
	// agent's version.
	list, agree := updates.Roles(agent)
	roles := make(map[string]string, len(list))
	for _, r := range list {
		roles[r.Name] = r.Version
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": ch, "updates": items, "history": history, "roles": roles,
		"roles_agree": agree})
	return nil
}

func (a *API) releaseAgents(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	id := r.PathValue("id")
	if _, err := a.cfg.DB.GetRelease(r.Context(), id); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, total, err := a.cfg.DB.ReleaseUpdates(r.Context(), id, pg)
	if err != nil {
		return err
	}
	counts, err := a.cfg.DB.ReleaseStepCounts(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"steps": counts, "items": items, "total": total, "limit": pg.Limit, "offset": pg.Offset})
	return nil
}

// setReleaseStatus returns the handler of POST /api/v1/releases/{id}/halt,
// /resume and /withdraw.
func (a *API) setReleaseStatus(status string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p access.Principal) error {
		rel, err := a.cfg.Manage.SetReleaseStatus(r.Context(), p, r.PathValue("id"), status)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rel)
		return nil
	}
}

// allowRollback takes the body of POST /api/v1/releases/{id}/rollback: a
// signed rollback instruction (`steward release sign --rollback`).
func (a *API) allowRollback(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	b, err := readStatement(w, r)
	if err != nil {
		return err
	}
	rb, err := protocol.DecodeSignedRollback(b)
	if err != nil {
		return errBadRequest("rollback instruction: %v", err)
	}
	rel, err := a.cfg.Manage.AllowRollback(r.Context(), p, a.cfg.ReleaseKeys, r.PathValue("id"), rb)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

// releaseKeys answers GET /api/v1/release-keys: the keys the server
// trusts now and the statements that changed the configured ones.
func (a *API) releaseKeys(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	keys, err := a.cfg.Manage.TrustedReleaseKeys(r.Context(), a.cfg.ReleaseKeys)
	if err != nil {
		return err
	}
	sts, err := a.cfg.Manage.KeyStatements(r.Context())
	if err != nil {
		return err
	}
	type key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	out := struct {
		Keys       []key                         `json:"keys"`
		Statements []protocol.SignedKeyStatement `json:"statements"`
	}{Keys: []key{}, Statements: sts}
	for _, k := range keys {
		out.Keys = append(out.Keys, key{ID: k.ID, Key: k.String()})
	}
	if out.Statements == nil {
		out.Statements = []protocol.SignedKeyStatement{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addKeyStatement takes a signed key statement (`steward release key`).
func (a *API) addKeyStatement(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	b, err := readStatement(w, r)
	if err != nil {
		return err
	}
	st, err := protocol.DecodeSignedKeyStatement(b)
	if err != nil {
		return errBadRequest("key statement: %v", err)
	}
	if _, err := a.cfg.Manage.AddKeyStatement(r.Context(), p, a.cfg.ReleaseKeys, st); err != nil {
		return err
	}
	return a.releaseKeys(w, r, p)
}

func uploadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("upload is larger than %d bytes", tooBig.Limit)}
	}
	return errBadRequest("read the upload: %v", err)
}

// readStatement reads the body of an endpoint that takes one signed
// statement (a rollback instruction, a key statement), bounded.
func readStatement(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxSignedReleaseBytes))
	if err != nil {
		return nil, uploadError(err)
	}
	return bytes.TrimSpace(b), nil
}
