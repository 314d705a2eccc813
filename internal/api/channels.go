package api

import (
	"net/http"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
)

type channelBody struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	URL         string   `json:"url"`
	Secret      string   `json:"secret"`
	Recipients  []string `json:"recipients"`
	MinSeverity string   `json:"min_severity"`
	Enabled     *bool    `json:"enabled"`
}

func (b channelBody) input() manage.ChannelInput {
	return manage.ChannelInput{Name: b.Name, Kind: b.Kind, URL: b.URL, Secret: b.Secret, Recipients: b.Recipients,
		MinSeverity: b.MinSeverity, Enabled: b.Enabled}
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	items, err := a.cfg.DB.ListChannels(r.Context())
	if err != nil {
		return err
	}
	for i := range items {
		items[i] = manage.ChannelFor(p, items[i])
	}
	return writeAll(w, r, items)
}

func (a *API) createChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body channelBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	c, secret, err := a.cfg.Manage.CreateChannel(r.Context(), p, body.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		store.Channel
		Secret string `json:"secret,omitempty"`
	}{c, secret})
	return nil
}

func (a *API) getChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	c, err := a.cfg.DB.Channel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, manage.ChannelFor(p, c))
	return nil
}

func (a *API) updateChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body channelBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	c, err := a.cfg.Manage.UpdateChannel(r.Context(), p, r.PathValue("id"), body.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := a.cfg.Manage.DeleteChannel(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) channelDeliveries(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Channel(r.Context(), id); err != nil {
		return err
	}
	items, err := a.cfg.DB.ListDeliveries(r.Context(), id, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Delivery]{Items: items, Total: len(items), Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) testChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if !access.Can(p, access.ManageNotifications) {
		return access.ErrForbidden
	}
	status, err := a.cfg.Notify.Test(r.Context(), r.PathValue("id"))
	if err != nil && status == 0 {
		if _, lookupErr := a.cfg.DB.Channel(r.Context(), r.PathValue("id")); lookupErr != nil {
			return lookupErr
		}
	}
	res := map[string]any{"ok": err == nil, "status": status}
	if err != nil {
		res["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
