package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// agentTab is one tab of the agent page: each is a page of its own under
// /agents/{id}, so a host with a thousand packages does not make the
// overview a thousand rows long.
type agentTab struct {
	// Slug is the path below /agents/{id}; "" is the overview.
	Slug, Label string
}

// agentTabs are the agent page's tabs, in order.
var agentTabs = []agentTab{
	{"", "Overview"}, {"metrics", "Metrics"}, {"inventory", "Inventory"}, {"software", "Software"},
	{"policy", "Policy"}, {"alerts", "Alerts"}, {"history", "History"}, {"updates", "Updates"}, {"scripts", "Scripts"}, {"actions", "Actions"},
}

// agentView is the data of every tab of the agent page. The agent's own
// fields are promoted so the live fragments read them directly; each tab
// fills only its own part.
type agentView struct {
	store.Agent
	// Tab is the current tab's slug.
	Tab string
	// Policy is the resolved policy (policy tab).
	Policy *policyView
	// Charts lists the metric charts, one per chart drawn by app.js (metrics tab).
	Charts []chartView
	// Scope is the agent's monitoring panel (overview).
	Scope *scopeView
	// Vitals are the latest CPU, memory and disk use and the reboot
	// state (overview).
	Vitals store.Vitals
	// Inventory is the inventory, software or history tab's data.
	Inventory *inventoryView
	// Alerts are the agent's latest alerts (alerts tab); AlertsTotal
	// counts them all and AlertsURL lists them on the alerts page.
	Alerts      []store.Alert
	AlertsTotal int
	AlertsURL   string
	// Updates is the updates tab's data: channel, current updates, history.
	Updates *agentUpdatesView
	// Runs is the scripts tab's data: the agent's runs.
	Runs *agentRunsView
	// Actions is the actions tab's data.
	Actions *actionsView
	// Power is the power action pending on the agent (every tab's
	// heading); nil when none is.
	Power *pendingPower
}

// tabLink is a tab as the tab bar draws it.
type tabLink struct {
	URL, Label string
	Current    bool
}

// Tabs lists the tab bar's links.
func (v agentView) Tabs() []tabLink {
	out := make([]tabLink, 0, len(agentTabs))
	for _, t := range agentTabs {
		u := "/agents/" + url.PathEscape(v.ID)
		if t.Slug != "" {
			u += "/" + t.Slug
		}
		out = append(out, tabLink{URL: u, Label: t.Label, Current: t.Slug == v.Tab})
	}
	return out
}

// TabLabel names the current tab, for the title.
func (v agentView) TabLabel() string {
	for _, t := range agentTabs {
		if t.Slug == v.Tab {
			return t.Label
		}
	}
	return ""
}

// renderAgent renders a tab of the agent page; an htmx presence refresh
// of the heading gets only the heading.
func (h *Handler) renderAgent(w http.ResponseWriter, r *http.Request, av agentView, block string) error {
	title := av.Hostname
	if av.Tab != "" {
		title = av.TabLabel() + " · " + av.Hostname
	}
	if isPartial(r) && r.URL.Query().Get("part") == "head" {
		block = "agent-head"
	}
	if block == "" || block == "agent-head" {
		var err error
		if av.Power, err = h.agentPower(r.Context(), av.Agent); err != nil {
			return err
		}
	}
	return h.render(w, r, http.StatusOK, "agent", block, view{Title: title, Nav: "agents", Page: av})
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
	Path string
	// Name is the path within its section, e.g. "cpu.trigger".
	Name  string
	Value string
	// Raw is the value as the policy document writes it, when Value says
	// it differently ("9600h0m0s" for "400 days").
	Raw  string
	Help string
	// Source names where the value comes from, e.g. `site policy "HQ"`;
	// SourceURL links the policy, empty for the built-in default.
	Source    string
	SourceURL string
	// Level names the source level: built-in default, default, client, site, agent.
	Level string
	// Here reports that the value is set on the agent itself.
	Here bool
}

// newPolicyView groups an effective policy by top-level section, in the
// schema's order. channels names the notification channels by ID.
func newPolicyView(eff policy.Effective, acknowledged string, channels map[string]string) *policyView {
	pv := &policyView{Revision: eff.Revision(), Current: acknowledged == eff.Revision()}
	for _, f := range eff.Fields() {
		section, name, _ := strings.Cut(f.Path, ".")
		if n := len(pv.Sections); n == 0 || pv.Sections[n-1].Name != section {
			pv.Sections = append(pv.Sections, policySection{Name: section})
		}
		s := &pv.Sections[len(pv.Sections)-1]
		pf := policyField{
			Path: f.Path, Name: name, Value: policyValue(f.Path, f.Value, channels),
			Level: levelLabel(f.Source.Level), Here: f.Source.Level == policy.LevelAgent,
		}
		if raw := rawPolicyValue(f.Value); raw != pf.Value {
			pf.Raw = raw
		}
		if sp, ok := policy.SpecFor(f.Path); ok {
			pf.Help = sp.Help
		}
		pf.Source = "built-in default"
		if f.Source.Level != policy.LevelBuiltin {
			pf.Source = fmt.Sprintf("%s policy %q", f.Source.Level, f.Source.PolicyName)
			pf.SourceURL = "/policies/" + url.PathEscape(f.Source.PolicyID)
		}
		s.Fields = append(s.Fields, pf)
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

// isSize reports whether a policy field at path counts bytes.
func isSize(path string) bool { return strings.Contains(path, "bytes") }

// policyValue writes a field's value for people: durations in days,
// hours or minutes, sizes in MB, percentages with their sign and
// notification channels by name.
func policyValue(path string, v any, channels map[string]string) string {
	switch x := v.(type) {
	case time.Duration:
		return policy.HumanDuration(x)
	case policy.Severity:
		return string(x)
	case bool:
		if x {
			return "on"
		}
		return "off"
	case int64:
		if isSize(path) {
			return policy.HumanBytes(x)
		}
		return num(int(x))
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64) + " %"
	case map[string]policy.DiskLimits:
		if len(x) == 0 {
			return "none"
		}
		mounts := make([]string, 0, len(x))
		for m, l := range x {
			s := fmt.Sprintf("%s: used above %s %% (clears below %s %%)", m,
				strconv.FormatFloat(l.PercentTrigger, 'f', -1, 64), strconv.FormatFloat(l.PercentClear, 'f', -1, 64))
			if l.FreeBytesTrigger > 0 {
				s += fmt.Sprintf(", free below %s (clears above %s)", policy.HumanBytes(l.FreeBytesTrigger), policy.HumanBytes(l.FreeBytesClear))
			}
			mounts = append(mounts, s)
		}
		sort.Strings(mounts)
		return strings.Join(mounts, "; ")
	case []string: // notification channels
		switch {
		case len(x) == 0:
			return "none"
		case len(x) == 1 && x[0] == policy.AllChannels:
			return "all channels"
		}
		names := make([]string, 0, len(x))
		for _, id := range x {
			if n, ok := channels[id]; ok {
				names = append(names, n)
			} else {
				names = append(names, "deleted channel "+id)
			}
		}
		return strings.Join(names, ", ")
	case string:
		if x == "" {
			return "none"
		}
		return x
	case []policy.WatchedService:
		if len(x) == 0 {
			return "none"
		}
		list := make([]string, 0, len(x))
		for _, s := range x {
			var what []string
			if s.Restart {
				what = append(what, "restarted")
			}
			if s.Alert {
				what = append(what, "alerts")
			}
			if len(what) == 0 {
				what = append(what, "checked only")
			}
			list = append(list, s.Name+" ("+strings.Join(what, ", ")+")")
		}
		return strings.Join(list, "; ")
	case []policy.ScheduledScript:
		return schedulesValue(x)
	case []policy.Link:
		if len(x) == 0 {
			return "none"
		}
		list := make([]string, 0, len(x))
		for _, l := range x {
			list = append(list, l.Title+": "+l.URL)
		}
		return strings.Join(list, "; ")
	}
	return fmt.Sprint(v)
}

// rawPolicyValue writes a scalar value as the policy document does, for
// the tooltip of its human form; "" for the composite kinds.
func rawPolicyValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
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

// agentPage serves GET /agents/{id}, the overview: the machine, the
// agent and the monitoring panel. A presence event re-fetches only the
// live fragment.
func (h *Handler) agentPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	av := agentView{Agent: a}
	vitals, err := h.cfg.DB.AgentVitals(ctx, []string{a.ID}, time.Now().Add(-vitalsSince))
	if err != nil {
		return err
	}
	av.Vitals = vitals[a.ID]
	if isPartial(r) {
		return h.renderAgent(w, r, av, "agent-live")
	}
	if av.Scope, err = h.scope(ctx, agentScope(a)); err != nil {
		return err
	}
	return h.renderAgent(w, r, av, "")
}

// agentMetrics serves GET /agents/{id}/metrics: the charts.
func (h *Handler) agentMetrics(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	metrics, err := h.cfg.DB.AgentMetrics(ctx, a.ID, time.Now().Add(-chartsSince))
	if err != nil {
		return err
	}
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "metrics", Charts: agentCharts(metrics)}, "")
}

// agentPolicy serves GET /agents/{id}/policy: the effective policy, each
// field with its source.
func (h *Handler) agentPolicy(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	eff, err := h.cfg.Policies.Agent(ctx, a.ID)
	if err != nil {
		return fmt.Errorf("effective policy of %s: %w", a.ID, err)
	}
	chans, err := h.cfg.DB.ListChannels(ctx)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(chans))
	for _, c := range chans {
		names[c.ID] = c.Name
	}
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "policy", Policy: newPolicyView(eff, a.PolicyRevision, names)}, "")
}

// agentAlertRows is how many of an agent's latest alerts its tab lists.
const agentAlertRows = 50

// agentAlerts serves GET /agents/{id}/alerts: the agent's latest alerts,
// whatever their state, linked to the alerts page for handling them.
func (h *Handler) agentAlerts(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	alerts, total, err := h.cfg.DB.ListAlerts(ctx, store.AlertFilter{AgentID: a.ID}, store.Page{Limit: agentAlertRows})
	if err != nil {
		return err
	}
	av := agentView{Agent: a, Tab: "alerts", Alerts: alerts, AlertsTotal: total,
		AlertsURL: alertQuery{State: "all", Agent: a.ID}.url()}
	return h.renderAgent(w, r, av, "")
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
