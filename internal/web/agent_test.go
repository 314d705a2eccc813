package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// assignPolicy creates a policy with doc and assigns it at level.
func (e *testEnv) assignPolicy(name, doc, level, targetID string) store.Policy {
	e.t.Helper()
	ctx := e.t.Context()
	p, err := e.mgr.CreatePolicy(ctx, access.Console(), manage.PolicyInput{Name: name, Document: json.RawMessage(doc)})
	if err != nil {
		e.t.Fatalf("create policy %s: %v", name, err)
	}
	if err := e.mgr.Assign(ctx, access.Console(), level, targetID, p.ID); err != nil {
		e.t.Fatalf("assign policy %s to %s %s: %v", name, level, targetID, err)
	}
	return p
}

func TestAgentPageEffectivePolicy(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	client := e.assignPolicy("Acme baseline", `{"metrics":{"interval":"30s"}}`, store.LevelClient, f.client.ID)
	own := e.assignPolicy("web-01 only", `{"thresholds":{"cpu":{"trigger":97}}}`, store.LevelAgent, a.ID)
	b := e.signedIn(store.RoleReadonly)

	path := "/agents/" + a.ID + "/policy"
	res := b.get(path)
	wantStatus(t, "policy tab", res, http.StatusOK)
	mustContain(t, "policy tab", res.body,
		"Effective policy",
		`<h3 class="policy-section">metrics</h3>`, `<h3 class="policy-section">thresholds</h3>`,
		// Values in people's units, sources by name with a link, not by ID.
		`<span class="mono" title="metrics.interval">interval</span>`,
		`<td class="value" title="30s">30 seconds</td>`,
		`<span class="badge">inherited from client</span>`,
		// html/template writes the quotes of the policy name as &#34;.
		`<a href="/policies/`+client.ID+`">client policy &#34;Acme baseline&#34;</a>`,
		`<span class="mono" title="thresholds.cpu.trigger">cpu.trigger</span>`,
		`<td class="value">97 %</td>`,
		`<a href="/policies/`+own.ID+`">agent policy &#34;web-01 only&#34;</a>`,
		`<span class="badge here">set here</span>`,
		`<td class="value" title="24h0m0s">1 day</td>`,
		`<td class="value" title="9600h0m0s">400 days</td>`,
		`<td class="value" title="16777216">16 MB</td>`,
		`inherited from built-in default`,
		"No revision acknowledged yet", "older revision — update pending",
	)
	mustNotContain(t, "policy tab", res.body, "up to date", "("+client.ID+")", "9600h0m0s<")

	// The overview no longer carries the policy, the charts or the software.
	res = b.get("/agents/" + a.ID)
	wantStatus(t, "overview", res, http.StatusOK)
	mustContain(t, "overview", res.body, `id="agent-live"`, `href="/agents/`+a.ID+`/policy"`, `id="monitoring"`)
	mustNotContain(t, "overview", res.body, "Effective policy", "data-charts", "table grid software")

	eff, err := effective.NewPolicies(e.db).Agent(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.WithTx(t.Context(), func(tx *store.Tx) error { return tx.SetPolicyRevision(t.Context(), a.ID, eff.Revision()) }); err != nil {
		t.Fatal(err)
	}
	res = b.get(path)
	wantStatus(t, "policy tab after acknowledgement", res, http.StatusOK)
	mustContain(t, "policy tab after acknowledgement", res.body,
		"Runs revision <code>"+eff.Revision()+"</code>", `<span class="badge ok">up to date</span>`)
	mustNotContain(t, "policy tab after acknowledgement", res.body, "update pending")

	// A policy change makes the acknowledged revision old.
	e.assignPolicy("Head office", `{"inventory":{"interval":"12h"}}`, store.LevelSite, f.site.ID)
	res = b.get(path)
	mustContain(t, "policy tab after a site policy", res.body,
		"Runs revision <code>"+eff.Revision()+"</code>", "older revision — update pending", `<span class="badge">inherited from site</span>`)

	// The live fragment that presence events fetch leaves the tabs out.
	res = b.get("/agents/"+a.ID, "HX-Request", "true")
	wantStatus(t, "agent fragment", res, http.StatusOK)
	mustContain(t, "agent fragment", res.body, `id="agent-live"`)
	mustNotContain(t, "agent fragment", res.body, "Effective policy", "data-charts", "agent-tabs")
	// Other tabs refresh only their heading.
	res = b.get("/agents/"+a.ID+"?part=head", "HX-Request", "true")
	mustContain(t, "heading fragment", res.body, `id="agent-head"`, "web-01", "Offline")
	mustNotContain(t, "heading fragment", res.body, "agent-tabs", "Operating system")
}

func TestAgentTabs(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	b := e.signedIn(store.RoleReadonly)
	for _, tt := range []struct{ tab, want string }{
		{"", `id="monitoring"`},
		{"/metrics", `id="charts"`},
		{"/inventory", "This agent has not reported an inventory yet."},
		{"/software", "This agent has not reported an inventory yet."},
		{"/policy", "Effective policy"},
		{"/alerts", "This agent has never raised an alert."},
		{"/history", "No changes recorded."},
	} {
		res := b.get("/agents/" + a.ID + tt.tab)
		wantStatus(t, "tab "+tt.tab, res, http.StatusOK)
		mustContain(t, "tab "+tt.tab, res.body, tt.want, `class="subnav agent-tabs"`,
			`<a href="/agents/`+a.ID+tt.tab+`" aria-current="page">`)
		wantStatus(t, "tab "+tt.tab+" of an unknown agent", b.get("/agents/"+store.NewID()+tt.tab), http.StatusNotFound)
	}
}

// ingest stores samples as the gateway would.
func (e *testEnv) ingest(agentID string, samples ...protocol.Sample) {
	e.t.Helper()
	ack, err := e.series.Ingest(e.t.Context(), agentID, protocol.MetricsBatch{Samples: samples})
	if err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
	if len(ack.Rejected) > 0 {
		e.t.Fatalf("ingest rejected %v", ack.Rejected)
	}
}

type seriesBody struct {
	Metric string
	Range  string
	Bucket int64
	Points []struct {
		T time.Time
		V float64
	}
}

func TestAgentSeries(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	other := e.enroll(f, linuxFacts("web-02"))
	now := time.Now().UTC().Truncate(time.Second)
	e.ingest(a.ID,
		protocol.Sample{Time: now.Add(-10 * time.Minute), Values: map[string]float64{
			"cpu.percent": 12.5, "memory.percent": 40, "disk.percent:/": 55, "disk.percent:/var": 70,
			"net.rx_bytes_per_s:eth0": 1000, "net.tx_bytes_per_s:eth0": 500,
		}},
		protocol.Sample{Time: now.Add(-5 * time.Minute), Values: map[string]float64{"cpu.percent": 37.5}},
		protocol.Sample{Time: now.Add(-3 * time.Hour), Values: map[string]float64{"cpu.percent": 99}},
	)
	e.ingest(other.ID, protocol.Sample{Time: now.Add(-time.Minute), Values: map[string]float64{"cpu.percent": 80}})

	get := func(t *testing.T, b *browser, agentID string, q url.Values) response {
		t.Helper()
		return b.get("/agents/"+agentID+"/series?"+q.Encode(), "Accept", "application/json")
	}
	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := e.signedIn(role)
			res := get(t, b, a.ID, url.Values{"metric": {"cpu.percent"}, "range": {"1h"}})
			wantStatus(t, "series", res, http.StatusOK)
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got seriesBody
			if err := json.Unmarshal([]byte(res.body), &got); err != nil {
				t.Fatalf("decode %s: %v", res.body, err)
			}
			if len(got.Points) != 2 || got.Points[0].V != 12.5 || got.Points[1].V != 37.5 || !got.Points[1].T.Equal(now.Add(-5*time.Minute)) {
				t.Errorf("1h points %+v, want 12.5 then 37.5 at %s", got.Points, now.Add(-5*time.Minute))
			}
			if got.Metric != "cpu.percent" || got.Range != "1h" || got.Bucket != 0 {
				t.Errorf("got metric %q range %q bucket %d, want cpu.percent 1h 0", got.Metric, got.Range, got.Bucket)
			}
		})
	}

	b := e.signedIn(store.RoleReadonly)
	t.Run("ranges", func(t *testing.T) {
		for _, tc := range []struct {
			rng        string
			wantPoints int
			wantBucket bool
		}{
			{"1h", 2, false}, {"24h", 3, true}, {"7d", 3, true}, {"30d", 3, true},
		} {
			res := get(t, b, a.ID, url.Values{"metric": {"cpu.percent"}, "range": {tc.rng}})
			wantStatus(t, "series "+tc.rng, res, http.StatusOK)
			var got seriesBody
			if err := json.Unmarshal([]byte(res.body), &got); err != nil {
				t.Fatalf("decode %s: %v", res.body, err)
			}
			// Samples 5 min apart may share a bucket on long ranges.
			if n := len(got.Points); n < 2 || n > tc.wantPoints {
				t.Errorf("range %s: %d points, want 2..%d", tc.rng, n, tc.wantPoints)
			}
			if (got.Bucket > 0) != tc.wantBucket {
				t.Errorf("range %s: bucket %ds, want bucketed %v", tc.rng, got.Bucket, tc.wantBucket)
			}
		}
	})
	t.Run("per instance and empty", func(t *testing.T) {
		res := get(t, b, a.ID, url.Values{"metric": {"disk.percent:/var"}, "range": {"1h"}})
		wantStatus(t, "disk series", res, http.StatusOK)
		mustContain(t, "disk series", res.body, `"v":70`)
		res = get(t, b, a.ID, url.Values{"metric": {"swap.percent"}, "range": {"1h"}})
		wantStatus(t, "series without samples", res, http.StatusOK)
		mustContain(t, "series without samples", res.body, `"points":[]`)
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			what    string
			agentID string
			q       url.Values
			want    int
		}{
			{"unknown metric", a.ID, url.Values{"metric": {"cpu.bogus"}}, http.StatusBadRequest},
			{"no metric", a.ID, url.Values{}, http.StatusBadRequest},
			{"instance missing", a.ID, url.Values{"metric": {"disk.percent"}}, http.StatusBadRequest},
			{"unknown range", a.ID, url.Values{"metric": {"cpu.percent"}, "range": {"2h"}}, http.StatusBadRequest},
			{"unknown agent", "no-such-agent", url.Values{"metric": {"cpu.percent"}}, http.StatusNotFound},
		} {
			res := get(t, b, tc.agentID, tc.q)
			if res.status != tc.want {
				t.Errorf("%s: status %d, want %d\n%s", tc.what, res.status, tc.want, res.body)
			}
		}
		res := get(t, e.browser(), a.ID, url.Values{"metric": {"cpu.percent"}})
		wantStatus(t, "signed out", res, http.StatusSeeOther)
		if loc := location(res); loc == "" || loc[:6] != "/login" {
			t.Errorf("signed out: redirect to %q, want /login", loc)
		}
	})

	t.Run("page lists charts", func(t *testing.T) {
		res := b.get("/agents/" + a.ID + "/metrics")
		wantStatus(t, "metrics tab", res, http.StatusOK)
		mustContain(t, "metrics tab", res.body,
			`data-charts="/agents/`+a.ID+`/series"`,
			"<figcaption>CPU</figcaption>", "<figcaption>Memory</figcaption>",
			"<figcaption>Disk /</figcaption>", "<figcaption>Disk /var</figcaption>", "<figcaption>Network eth0</figcaption>",
			`data-range="1h"`, `data-range="24h"`, `data-range="7d"`, `data-range="30d"`,
			// The series list is JSON in an attribute, escaped by html/template.
			`{&#34;metric&#34;:&#34;net.rx_bytes_per_s:eth0&#34;,&#34;label&#34;:&#34;Received&#34;}`,
			"vendor/uPlot.iife.min.", "vendor/uPlot.min.",
		)
	})
}
