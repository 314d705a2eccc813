package api

import (
	"net/http"
	"time"

	"github.com/steward-rmm/steward/internal/access"
)

type maintenanceBody struct {
	Level    string `json:"level"`
	TargetID string `json:"target_id"`
	StartsAt string `json:"starts_at"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

func (a *API) listMaintenance(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	items, err := a.cfg.DB.ListMaintenanceWindows(r.Context())
	if err != nil {
		return err
	}
	return writeAll(w, r, items)
}

func (a *API) startMaintenance(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body maintenanceBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	var start time.Time
	if body.StartsAt != "" {
		t, err := time.Parse(time.RFC3339, body.StartsAt)
		if err != nil {
			return errBadRequest("starts_at must be an RFC 3339 time")
		}
		start = t
	}
	d, err := time.ParseDuration(body.Duration)
	if err != nil {
		return errBadRequest("duration must be a duration like 2h or 90m")
	}
	win, err := a.cfg.Manage.StartMaintenance(r.Context(), p, body.Level, body.TargetID, start, d, body.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, win)
	return nil
}

func (a *API) endMaintenance(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := a.cfg.Manage.EndMaintenance(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
