package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// trustedKey is a release key the server trusts, as the keys page lists it.
type trustedKey struct {
	protocol.ReleaseKey
	// Configured says the key comes from the server's own configuration
	// (--release-key) rather than from a key statement.
	Configured bool
}

// Text is the key in the form --release-key and statements take.
func (k trustedKey) Text() string { return k.String() }

// keyStatementRow is a recorded key statement, a line of the rotation
// history.
type keyStatementRow struct {
	store.KeyStatement
	// AddedID is the ID of the key the statement adds; "" for a retirement.
	AddedID string
}

// keysView is the data of the release keys page.
type keysView struct {
	Keys       []trustedKey
	Statements []keyStatementRow
	// NoKeys says the server is configured with no key at all.
	NoKeys bool
	// Ignored says why recorded statements change nothing now (say the
	// server was started with other keys since they were recorded).
	Ignored []string
	Error   string
}

// releaseKeysPage serves GET /releases/keys.
func (h *Handler) releaseKeysPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	return h.renderReleaseKeys(w, r, http.StatusOK, "")
}

func (h *Handler) renderReleaseKeys(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	ctx := r.Context()
	log, err := h.cfg.DB.KeyStatementLog(ctx)
	if err != nil {
		return err
	}
	// The trusted keys as manage.TrustedReleaseKeys computes them, from the
	// log read once; the errors say which statements are ignored now (manage
	// checked each when it was recorded, but the configured keys may have
	// changed since).
	sts := make([]protocol.SignedKeyStatement, len(log))
	for i, st := range log {
		sts[i] = st.Signed
	}
	keys, errs := protocol.ApplyKeyStatements(h.cfg.ReleaseKeys, sts)
	kv := keysView{NoKeys: len(h.cfg.ReleaseKeys) == 0, Error: msg}
	for _, k := range keys {
		configured := slices.ContainsFunc(h.cfg.ReleaseKeys, func(c protocol.ReleaseKey) bool { return c.ID == k.ID })
		kv.Keys = append(kv.Keys, trustedKey{ReleaseKey: k, Configured: configured})
	}
	for _, err := range errs {
		kv.Ignored = append(kv.Ignored, upperFirst(err.Error())+".")
	}
	for _, st := range log {
		row := keyStatementRow{KeyStatement: st}
		if st.Signed.Statement.Add != "" {
			if k, err := protocol.ParseReleaseKey(st.Signed.Statement.Add); err == nil {
				row.AddedID = k.ID
			}
		}
		kv.Statements = append(kv.Statements, row)
	}
	return h.render(w, r, status, "release_keys", "", view{Title: "Release keys", Nav: "releases", Page: kv})
}

// statementField is the file input of the key and rollback forms.
const statementField = "statement"

// postedStatement reads the signed statement file of a form, bounded as
// the API bounds its body.
func postedStatement(r *http.Request) ([]byte, error) {
	f, _, err := r.FormFile(statementField)
	if errors.Is(err, http.ErrMissingFile) {
		return nil, &statusError{http.StatusBadRequest, "Choose the statement file first."}
	}
	if err != nil {
		return nil, &statusError{http.StatusBadRequest, "The file could not be read. Try again."}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, protocol.MaxSignedReleaseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the statement file: %w", err)
	}
	if len(b) > protocol.MaxSignedReleaseBytes {
		return nil, &statusError{http.StatusBadRequest, fmt.Sprintf("This file is larger than %d bytes: it is not a signed statement.", protocol.MaxSignedReleaseBytes)}
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// addKeyStatement serves POST /releases/keys: the upload of a key
// statement that `steward release key` signed, stored through the same
// manage service as POST /api/v1/release-keys (which checks the signer and
// audits it).
func (h *Handler) addKeyStatement(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	b, err := postedStatement(r)
	if err != nil {
		return h.keysRefused(w, r, err)
	}
	st, err := protocol.DecodeSignedKeyStatement(b)
	if err != nil {
		return h.renderReleaseKeys(w, r, http.StatusBadRequest,
			"This is not a key statement of steward release key: "+strings.TrimPrefix(err.Error(), "decode key statement: ")+".")
	}
	_, err = h.cfg.Manage.AddKeyStatement(r.Context(), p, h.cfg.ReleaseKeys, st)
	if err != nil {
		return h.keysRefused(w, r, err)
	}
	http.Redirect(w, r, "/releases/keys", http.StatusSeeOther)
	return nil
}

// keysRefused shows the keys page with why an upload was refused, or
// returns err when it is not the user's to fix.
func (h *Handler) keysRefused(w http.ResponseWriter, r *http.Request, err error) error {
	if errors.Is(err, manage.ErrNoReleaseKeys) {
		return h.renderReleaseKeys(w, r, http.StatusConflict, upperFirst(err.Error())+".")
	}
	if pr, ok := formProblem(err); ok {
		return h.renderReleaseKeys(w, r, pr.Status, pr.Message)
	}
	return err
}
