package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of a library script's text fields.
const (
	maxNameLen        = 200
	maxDescriptionLen = 4000
	maxCategoryLen    = 100
)

// ScriptInput is a script as a user saves it.
type ScriptInput struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Language    string            `json:"language"`
	Body        string            `json:"body"`
	Args        []string          `json:"args"`
	Env         map[string]string `json:"env"`
	Timeout     time.Duration     `json:"-"`
	TargetOS    string            `json:"target_os"`
	RunAs       string            `json:"run_as"`
	// Version, when set on an update, must be the stored version: an edit
	// made on an older one is refused rather than lost.
	Version int `json:"version"`
}

// check validates a script as the agent will: the run it makes must pass
// protocol.ScriptRun's bounds.
func (in ScriptInput) check() (store.Script, error) {
	in.Name, in.Category = strings.TrimSpace(in.Name), strings.TrimSpace(in.Category)
	switch {
	case in.Name == "":
		return store.Script{}, input.Errorf("name", "is required")
	case len(in.Name) > maxNameLen:
		return store.Script{}, input.Errorf("name", "at most %d bytes", maxNameLen)
	case len(in.Description) > maxDescriptionLen:
		return store.Script{}, input.Errorf("description", "at most %d bytes", maxDescriptionLen)
	case len(in.Category) > maxCategoryLen:
		return store.Script{}, input.Errorf("category", "at most %d bytes", maxCategoryLen)
	}
	switch in.TargetOS {
	case "", "windows", "linux", "darwin":
	default:
		return store.Script{}, input.Errorf("target_os", "must be windows, linux, darwin or empty (any)")
	}
	if in.Language == protocol.LangCmd && in.TargetOS != "" && in.TargetOS != "windows" {
		return store.Script{}, input.Errorf("target_os", "cmd scripts run on Windows only")
	}
	if in.Timeout == 0 {
		in.Timeout = protocol.DefaultScriptTimeout
	}
	if in.RunAs == "" {
		in.RunAs = protocol.RunAsSystem
	}
	run := protocol.ScriptRun{Language: in.Language, Body: in.Body, SHA256: protocol.ScriptSHA256(in.Body), Args: in.Args,
		Env: in.Env, Timeout: protocol.Duration(in.Timeout), RunAs: in.RunAs}
	if err := run.Validate(); err != nil {
		return store.Script{}, input.Errorf(fieldOf(err), "%v", err)
	}
	return store.Script{Name: in.Name, Description: in.Description, Category: in.Category, Language: in.Language, Body: in.Body,
		Args: in.Args, Env: in.Env, Timeout: in.Timeout, TargetOS: in.TargetOS, RunAs: in.RunAs}, nil
}

// CreateScript adds a script to the library.
func (s *Service) CreateScript(ctx context.Context, p access.Principal, in ScriptInput) (store.Script, error) {
	if err := access.Require(p, access.EditScripts); err != nil {
		return store.Script{}, err
	}
	sc, err := in.check()
	if err != nil {
		return store.Script{}, err
	}
	sc.CreatedBy = p.ActorName()
	name := sc.Name // sc is emptied when the insert fails
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if sc, err = tx.CreateScript(ctx, sc); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("script.create", "script", sc.ID, map[string]string{
			"name": sc.Name, "language": sc.Language, "version": "1", "sha256": sc.SHA256}))
	})
	if errors.Is(err, store.ErrConflict) {
		return store.Script{}, input.Errorf("name", "a script named %q exists", name)
	}
	return sc, err
}

// UpdateScript saves a script's new version; saving it unchanged adds no
// version.
func (s *Service) UpdateScript(ctx context.Context, p access.Principal, id string, in ScriptInput) (store.Script, error) {
	if err := access.Require(p, access.EditScripts); err != nil {
		return store.Script{}, err
	}
	sc, err := in.check()
	if err != nil {
		return store.Script{}, err
	}
	sc.ID, sc.UpdatedBy = id, p.ActorName()
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		var changed bool
		if sc, changed, err = tx.UpdateScript(ctx, sc, in.Version); err != nil || !changed {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("script.update", "script", sc.ID, map[string]string{
			"name": sc.Name, "language": sc.Language, "version": fmt.Sprint(sc.Version), "sha256": sc.SHA256}))
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Script{}, input.Errorf("name", "a script named %q exists", in.Name)
	case errors.Is(err, store.ErrStale):
		return store.Script{}, input.Errorf("version", "%v; reload it and edit again", err)
	}
	return sc, err
}

// DeleteScript removes a script from the library; jobs that ran it keep
// what they sent.
func (s *Service) DeleteScript(ctx context.Context, p access.Principal, id string) error {
	if err := access.Require(p, access.EditScripts); err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *store.Tx) error {
		sc, err := tx.DeleteScript(ctx, id)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("script.delete", "script", id, map[string]string{
			"name": sc.Name, "version": fmt.Sprint(sc.Version)}))
	})
}
