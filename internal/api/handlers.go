package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/cluster"
	"github.com/steward-rmm/steward/internal/store"
)

type statusResponse struct {
	Version       string            `json:"version"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	Database      string            `json:"database"`
	Agents        store.AgentCounts `json:"agents"`
	Replicas      []replicaView     `json:"replicas"`
}

type replicaView struct {
	store.Replica
	// Jobs is true for the replica running the background jobs.
	Jobs bool `json:"jobs"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	counts, err := a.cfg.DB.CountAgents(r.Context())
	if err != nil {
		return err
	}
	replicas, err := a.cfg.DB.LiveReplicas(r.Context())
	if err != nil {
		return err
	}
	holder, err := a.cfg.DB.LeaseHolder(r.Context(), cluster.JobsLease)
	if err != nil {
		return err
	}
	views := make([]replicaView, 0, len(replicas))
	for _, rep := range replicas {
		views = append(views, replicaView{Replica: rep, Jobs: rep.ID == holder})
	}
	writeJSON(w, http.StatusOK, statusResponse{
		Version: a.cfg.Version, UptimeSeconds: int64(time.Since(a.cfg.Started).Seconds()),
		Database: a.cfg.DB.Dialect(), Agents: counts, Replicas: views,
	})
	return nil
}

func (a *API) me(w http.ResponseWriter, _ *http.Request, p access.Principal) error {
	writeJSON(w, http.StatusOK, map[string]any{"user": p.User, "via": p.Via})
	return nil
}

type nameBody struct {
	Name string `json:"name"`
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, total, err := a.cfg.DB.ListClients(r.Context(), pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Client]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body nameBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	c, err := a.cfg.Manage.CreateClient(r.Context(), p, body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	c, err := a.cfg.DB.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) listSites(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Client(r.Context(), id); err != nil {
		return err
	}
	items, total, err := a.cfg.DB.ListSites(r.Context(), id, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Site]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) createSite(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body nameBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	s, err := a.cfg.Manage.CreateSite(r.Context(), p, r.PathValue("id"), body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s)
	return nil
}

func (a *API) getSite(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	s, err := a.cfg.DB.Site(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Site(r.Context(), id); err != nil {
		return err
	}
	items, err := a.cfg.DB.ListEnrollmentTokens(r.Context(), id)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]tokenView, 0, len(items))
	for _, t := range items {
		out = append(out, tokenView{EnrollmentToken: t, State: t.State(now)})
	}
	writeJSON(w, http.StatusOK, list[tokenView]{Items: out, Total: len(out), Limit: len(out)})
	return nil
}

type tokenView struct {
	store.EnrollmentToken
	State string `json:"state"`
	// Token is the secret, present only in the response that created it.
	Token string `json:"token,omitempty"`
}

type createTokenBody struct {
	ExpiresIn string `json:"expires_in"`
	MaxUses   *int   `json:"max_uses"`
}

// DefaultTokenLifetime applies when expires_in is omitted.
const DefaultTokenLifetime = 24 * time.Hour

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body createTokenBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	lifetime := DefaultTokenLifetime
	if body.ExpiresIn != "" {
		d, err := parseLifetime(body.ExpiresIn)
		if err != nil {
			return errBadRequest("expires_in: %v", err)
		}
		lifetime = d
	}
	maxUses := 0
	if body.MaxUses != nil {
		maxUses = *body.MaxUses
	}
	secret, tok, err := a.cfg.Manage.CreateEnrollmentToken(r.Context(), p, r.PathValue("id"), lifetime, maxUses)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenView{EnrollmentToken: tok, State: tok.State(time.Now()), Token: secret})
	return nil
}

// maxLifetimeDays is far above any accepted lifetime and far below where
// days overflow a time.Duration.
const maxLifetimeDays = 100_000

// parseLifetime accepts Go durations ("24h", "90m") and whole days ("7d").
func parseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		// Bound n before multiplying: a huge count would wrap around to an
		// arbitrary, possibly valid, duration.
		if err != nil || n < 0 || n > maxLifetimeDays {
			return 0, errBadRequest("%q is not a duration like 24h or 7d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errBadRequest("%q is not a duration like 24h or 7d", s)
	}
	return d, nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	tok, err := a.cfg.Manage.RevokeEnrollmentToken(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenView{EnrollmentToken: tok, State: tok.State(time.Now())})
	return nil
}

func (a *API) listAgents(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AgentFilter{
		ClientID: q.Get("client_id"), SiteID: q.Get("site_id"), OS: q.Get("os"), Query: q.Get("q"), Sort: q.Get("sort"),
		PolicyRevision: q.Get("policy_revision"),
	}
	if len(f.Query) > 200 {
		return errBadRequest("q must be at most 200 characters")
	}
	if !store.ValidAgentSort(f.Sort) {
		return errBadRequest("sort must be one of hostname, last_seen, os, client, site, version, status (prefix - for descending)")
	}
	switch s := q.Get("online"); s {
	case "":
	case "true", "false":
		v := s == "true"
		f.Online = &v
	default:
		return errBadRequest("online must be true or false")
	}
	if !f.SetStatus(q.Get("status")) {
		return errBadRequest("status must be online, offline or uninstalled")
	}
	items, total, err := a.cfg.DB.ListAgents(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.Agent]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

// deleteAgent deletes the record of an uninstalled agent.
func (a *API) deleteAgent(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := a.cfg.Alerts.DeleteUninstalled(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) getAgent(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ag, err := a.cfg.DB.Agent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ag)
	return nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), ActorID: q.Get("actor_id"), TargetID: q.Get("target_id"),
		Actor: q.Get("actor"), TargetType: q.Get("target_type")}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := q.Get(b.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return errBadRequest("%s must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z", b.name)
			}
			*b.t = t
		}
	}
	items, total, err := a.cfg.DB.ListAudit(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.AuditEntry]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}
