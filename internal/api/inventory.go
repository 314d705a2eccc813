package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds on a software search's name.
const (
	minSoftwareQuery = 2
	maxSoftwareQuery = 200
)

type inventoryView struct {
	store.InventorySnapshot
	Software []store.InstalledSoftware `json:"software"`
}

func (a *API) agentInventory(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Agent(r.Context(), id); err != nil {
		return err
	}
	snap, err := a.cfg.DB.InventorySnapshot(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return &badRequest{status: http.StatusNotFound, msg: fmt.Sprintf("agent %s has not reported an inventory yet", id)}
	}
	if err != nil {
		return err
	}
	software, err := a.cfg.DB.AgentSoftware(r.Context(), id, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inventoryView{InventorySnapshot: snap, Software: software})
	return nil
}

func (a *API) agentInventoryHistory(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	kind := r.URL.Query().Get("kind")
	if kind != "" && !inventory.ValidKind(kind) {
		return errBadRequest("kind %q is not a change kind", kind)
	}
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Agent(r.Context(), id); err != nil {
		return err
	}
	items, total, err := a.cfg.DB.InventoryChanges(r.Context(), id, kind, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.InventoryChange]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) searchSoftware(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.SoftwareFilter{Name: strings.TrimSpace(q.Get("name")), Version: q.Get("version"), ClientID: q.Get("client_id")}
	if err := checkSoftwareQuery(f.Name); err != nil {
		return err
	}
	if len(f.Version) > maxSoftwareQuery || !utf8.ValidString(f.Version) || !utf8.ValidString(f.ClientID) {
		return errBadRequest("version and client_id must be valid UTF-8, version at most %d characters", maxSoftwareQuery)
	}
	items, total, err := a.cfg.DB.SearchSoftware(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.SoftwareInstall]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

// checkSoftwareQuery refuses names too short to narrow a fleet-wide
// search, or too long to be a name.
func checkSoftwareQuery(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return errBadRequest("name must be valid UTF-8")
	case n == 0:
		return errBadRequest("name is required: part of the software name to search for")
	case n < minSoftwareQuery:
		return errBadRequest("name must be at least %d characters", minSoftwareQuery)
	case len(name) > maxSoftwareQuery:
		return errBadRequest("name must be at most %d characters", maxSoftwareQuery)
	}
	return nil
}
