package api

import (
	"net/http"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

type seriesResponse struct {
	Metric string        `json:"metric"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Bucket string        `json:"bucket,omitempty"` // averaging bucket; absent for raw values
	Points []store.Point `json:"points"`
}

// agentMetrics serves GET /api/v1/agents/{id}/metrics?metric=&from=&to=.
// Without metric it lists the metrics the agent reported in the range.
func (a *API) agentMetrics(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Agent(r.Context(), id); err != nil {
		return err
	}
	q := r.URL.Query()
	to := time.Now().UTC()
	from := to.Add(-time.Hour)
	var err error
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339, s); err != nil {
			return errBadRequest("from must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z")
		}
	}
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339, s); err != nil {
			return errBadRequest("to must be an RFC 3339 time, e.g. 2026-11-22T11:00:00Z")
		}
	}
	if !from.Before(to) {
		return errBadRequest("from must be before to")
	}
	if to.Sub(from) > 400*24*time.Hour {
		return errBadRequest("the range must be at most 400 days")
	}
	metric := q.Get("metric")
	if metric == "" {
		names, err := a.cfg.DB.AgentMetrics(r.Context(), id, from)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": names, "total": len(names)})
		return nil
	}
	if _, _, ok := protocol.SplitMetric(metric); !ok {
		return errBadRequest("unknown metric %q; see docs/api.md for the names", metric)
	}
	interval, err := a.cfg.Policies.MetricsInterval(r.Context(), id)
	if err != nil {
		return err
	}
	points, bucket, err := a.cfg.Series.Series(r.Context(), id, metric, from, to, interval)
	if err != nil {
		return err
	}
	resp := seriesResponse{Metric: metric, From: from, To: to, Points: points}
	if bucket > 0 {
		resp.Bucket = bucket.String()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
