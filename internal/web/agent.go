package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// agentView is the data of the agent page. The agent's own fields are
// promoted so the live fragment reads them directly.
type agentView struct {
	store.Agent
	// Policy is the resolved policy; nil in live fragments, which do not show it.
	Policy *policyView
	// Charts lists the metric charts, one per chart drawn by app.js.
	Charts []chartView
	// Scope is the agent's monitoring panel; nil in live fragments.
	Scope *scopeView
}

// policyView is the effective policy of one agent, for display.
type policyView struct {
	Revision string
	// Current reports whether the agent acknowledged Revision.
	Current  bool
	Sections []policySection
}

type policySection struct {
	Name   string
	Fields []policyField
}

type policyField struct {
	Path  string
	Value string
	// Source describes where the value comes from, e.g. `site policy "HQ" (p-1)`.
	Source string
	// Level names the source level: built-in default, default, client, site, agent.
	Level string
	// Here reports that the value is set on the agent itself.
	Here bool
}

// newPolicyView groups an effective policy by top-level section, in the
// schema's order.
func newPolicyView(eff policy.Effective, acknowledged string) *policyView {
	pv := &policyView{Revision: eff.Revision(), Current: acknowledged == eff.Revision()}
	for _, f := range eff.Fields() {
		section, _, _ := strings.Cut(f.Path, ".")
		if n := len(pv.Sections); n == 0 || pv.Sections[n-1].Name != section {
			pv.Sections = append(pv.Sections, policySection{Name: section})
		}
		s := &pv.Sections[len(pv.Sections)-1]
		s.Fields = append(s.Fields, policyField{
			Path: f.Path, Value: policyValue(f.Value), Source: f.Source.String(),
			Level: levelLabel(f.Source.Level), Here: f.Source.Level == policy.LevelAgent,
		})
	}
	return pv
}

// levelLabel names a level for "inherited from …".
func levelLabel(l policy.Level) string {
	if l == policy.LevelBuiltin {
		return "built-in default"
	}
	return l.String()
}

// policyValue writes a field's value as the policy JSON would, minus quotes.
func policyValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return x.String()
	case policy.Severity:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return num(int(x))
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]policy.DiskLimits:
		if len(x) == 0 {
			return "none"
		}
		mounts := make([]string, 0, len(x))
		for m, l := range x {
			mounts = append(mounts, fmt.Sprintf("%s: %s%% / %s%%", m,
				strconv.FormatFloat(l.PercentTrigger, 'f', -1, 64), strconv.FormatFloat(l.PercentClear, 'f', -1, 64)))
		}
		sort.Strings(mounts)
		return strings.Join(mounts, ", ")
	case []string: // notification channels
		switch {
		case len(x) == 0:
			return "none"
		case len(x) == 1 && x[0] == policy.AllChannels:
			return "all channels"
		}
		return strings.Join(x, ", ")
	}
	return fmt.Sprint(v)
}

// chartView is one chart of the agent page: its title, unit and series.
type chartView struct {
	Title string
	// Unit is "percent" or "bytes/s"; app.js formats the axis by it.
	Unit   string
	Series []chartSeries
}

type chartSeries struct {
	Metric string `json:"metric"`
	Label  string `json:"label"`
}

// SeriesJSON is the chart's series for its data attribute.
func (c chartView) SeriesJSON() (string, error) {
	b, err := json.Marshal(c.Series)
	return string(b), err
}

// chartsSince is how far back the page looks for disks and interfaces to
// chart: the longest range offered.
const chartsSince = 30 * 24 * time.Hour

// agentCharts lists CPU and memory charts, then one chart per disk and
// per network interface the agent reported.
func agentCharts(metrics []string) []chartView {
	charts := []chartView{
		{Title: "CPU", Unit: "percent", Series: []chartSeries{{"cpu.percent", "CPU"}}},
		{Title: "Memory", Unit: "percent", Series: []chartSeries{{"memory.percent", "Memory"}}},
	}
	var ifaces []string
	seen := map[string]bool{}
	for _, m := range metrics {
		name, inst, ok := protocol.SplitMetric(m)
		if !ok {
			continue
		}
		switch name {
		case "disk.percent":
			charts = append(charts, chartView{Title: "Disk " + inst, Unit: "percent", Series: []chartSeries{{m, "Used"}}})
		case "net.rx_bytes_per_s", "net.tx_bytes_per_s":
			if !seen[inst] {
				seen[inst] = true
				ifaces = append(ifaces, inst)
			}
		}
	}
	sort.Strings(ifaces)
	for _, i := range ifaces {
		charts = append(charts, chartView{Title: "Network " + i, Unit: "bytes/s", Series: []chartSeries{
			{"net.rx_bytes_per_s:" + i, "Received"}, {"net.tx_bytes_per_s:" + i, "Sent"},
		}})
	}
	return charts
}

// agentPage serves GET /agents/{id}. A presence event re-fetches only the
// live fragment, which leaves the policy and the charts alone.
func (h *Handler) agentPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	av := agentView{Agent: a}
	if isPartial(r) {
		return h.render(w, r, http.StatusOK, "agent", "agent-live", view{Title: a.Hostname, Nav: "agents", Page: av})
	}
	eff, err := h.cfg.Policies.Agent(ctx, a.ID)
	if err != nil {
		return fmt.Errorf("effective policy of %s: %w", a.ID, err)
	}
	av.Policy = newPolicyView(eff, a.PolicyRevision)
	metrics, err := h.cfg.DB.AgentMetrics(ctx, a.ID, time.Now().Add(-chartsSince))
	if err != nil {
		return err
	}
	av.Charts = agentCharts(metrics)
	if av.Scope, err = h.scope(ctx, agentScope(a)); err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "agent", "", view{Title: a.Hostname, Nav: "agents", Page: av})
}

// chartRanges are the ranges the chart buttons offer.
var chartRanges = map[string]time.Duration{
	"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
}

// seriesResponse is the JSON answer of the series endpoint.
type seriesResponse struct {
	Metric string `json:"metric"`
	Range  string `json:"range"`
	// Bucket is the averaging bucket in seconds; 0 for raw values.
	Bucket int64 `json:"bucket"`
	// From and To bound the range in Unix seconds, so a chart spans the
	// whole range even when few points fall in it.
	From   int64         `json:"from"`
	To     int64         `json:"to"`
	Points []store.Point `json:"points"`
}

// agentSeries serves GET /agents/{id}/series?metric=&range=, the data of
// one chart line, from the same session as the page.
func (h *Handler) agentSeries(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	id := r.PathValue("id")
	q := r.URL.Query()
	metric, rng := q.Get("metric"), q.Get("range")
	if rng == "" {
		rng = "1h"
	}
	span, ok := chartRanges[rng]
	if !ok {
		return &statusError{http.StatusBadRequest, "range must be one of 1h, 24h, 7d, 30d"}
	}
	if _, _, ok := protocol.SplitMetric(metric); !ok {
		return &statusError{http.StatusBadRequest, fmt.Sprintf("unknown metric %q", metric)}
	}
	if _, err := h.cfg.DB.Agent(ctx, id); err != nil {
		return err
	}
	interval, err := h.cfg.Policies.MetricsInterval(ctx, id)
	if err != nil {
		return fmt.Errorf("metrics interval of %s: %w", id, err)
	}
	to := time.Now().UTC()
	points, bucket, err := h.cfg.Series.Series(ctx, id, metric, to.Add(-span), to, interval)
	if err != nil {
		return err
	}
	if points == nil {
		points = []store.Point{}
	}
	body, err := json.Marshal(seriesResponse{Metric: metric, Range: rng, Bucket: int64(bucket / time.Second),
		From: to.Add(-span).Unix(), To: to.Unix(), Points: points})
	if err != nil {
		return fmt.Errorf("encode series: %w", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
	return nil
}
