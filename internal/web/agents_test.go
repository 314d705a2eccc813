package web_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/web"
)

// listFleet is 120 agents: host-000 … host-119. Agent i is in client Alpha
// (site North when i%3 == 0, South when 1) or Beta (site Main, i%3 == 2),
// runs Windows when i%4 == 0 (else Linux), is online when i%5 == 0, has IP
// 10.1.<i/100>.<i%100>, and host-042 has user zaphod logged in.
type listFleet struct {
	alpha, beta        fixture
	north, south, main string // site IDs
}

const fleetSize = 120

func seedListFleet(t *testing.T, e *testEnv) listFleet {
	t.Helper()
	var lf listFleet
	lf.alpha = e.fixture("Alpha", "North")
	lf.beta = e.fixture("Beta", "Main")
	south, err := e.mgr.CreateSite(t.Context(), consolePrincipal(), lf.alpha.client.ID, "South")
	if err != nil {
		t.Fatal(err)
	}
	southTok, _, err := e.mgr.CreateEnrollmentToken(t.Context(), consolePrincipal(), south.ID, 3600e9, 0)
	if err != nil {
		t.Fatal(err)
	}
	lf.north, lf.south, lf.main = lf.alpha.site.ID, south.ID, lf.beta.site.ID
	for i := range fleetSize {
		f := fixture{site: lf.alpha.site, token: lf.alpha.token}
		switch i % 3 {
		case 1:
			f = fixture{site: south, token: southTok}
		case 2:
			f = lf.beta
		}
		facts := protocol.Facts{
			Hostname: fmt.Sprintf("host-%03d", i), OS: "linux", OSName: "debian", OSVersion: "12", Arch: "amd64",
			AgentVersion: "0.1.0", IPAddresses: []string{fmt.Sprintf("10.1.%d.%d", i/100, i%100)}, Users: []string{},
		}
		if i%4 == 0 {
			facts.OS, facts.OSName, facts.OSVersion = "windows", "Microsoft Windows 11 Pro", "10.0.22631"
		}
		if i == 42 {
			facts.Users = []string{"zaphod"}
		}
		a := e.enroll(f, facts)
		if i%5 == 0 {
			e.connect(a, facts)
		}
	}
	return lf
}

// hosts returns host-NNN for every i in 0..fleetSize-1 that keep accepts.
func hosts(keep func(i int) bool) []string {
	out := []string{}
	for i := range fleetSize {
		if keep(i) {
			out = append(out, fmt.Sprintf("host-%03d", i))
		}
	}
	return out
}

func pageOf(all []string, n int) []string {
	lo, hi := (n-1)*web.PageSize, n*web.PageSize
	lo, hi = min(lo, len(all)), min(hi, len(all))
	return all[lo:hi]
}

func TestAgentsList(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *testEnv) {
		lf := seedListFleet(t, e)
		b := e.signedIn(store.RoleTechnician)

		all := hosts(func(int) bool { return true })
		reversed := make([]string, len(all))
		for i, h := range all {
			reversed[len(all)-1-i] = h
		}
		combined := hosts(func(i int) bool { return i%3 != 2 && i%5 == 0 && i%4 != 0 })
		onlineFirst := append(hosts(func(i int) bool { return i%5 == 0 }), hosts(func(i int) bool { return i%5 != 0 })...)

		for _, tc := range []struct {
			name, query string
			want        []string
			count       string // the "Showing …" line
		}{
			{"first page", "", pageOf(all, 1), "Showing 1–50 of 120 agents"},
			{"second page", "page=2", pageOf(all, 2), "Showing 51–100 of 120 agents"},
			{"last page", "page=3", pageOf(all, 3), "Showing 101–120 of 120 agents"},
			{"past the end shows the last page", "page=99", pageOf(all, 3), "Showing 101–120 of 120 agents"},
			{"garbage page", "page=-3", pageOf(all, 1), "Showing 1–50 of 120 agents"},
			{"sort by hostname descending", "sort=-hostname", pageOf(reversed, 1), "of 120"},
			{"sort online first", "sort=-status", pageOf(onlineFirst, 1), "of 120"},
			{"unknown sort falls back to hostname", "sort=secret_hash", pageOf(all, 1), "of 120"},
			{"client", "client=" + lf.alpha.client.ID, pageOf(hosts(func(i int) bool { return i%3 != 2 }), 1), "Showing 1–50 of 80 agents"},
			{"client and site", "client=" + lf.alpha.client.ID + "&site=" + lf.south, hosts(func(i int) bool { return i%3 == 1 }), "Showing 1–40 of 40 agents"},
			{"site alone implies its client", "site=" + lf.main, hosts(func(i int) bool { return i%3 == 2 }), "of 40 agents"},
			{"site of another client is dropped", "client=" + lf.beta.client.ID + "&site=" + lf.south, hosts(func(i int) bool { return i%3 == 2 }), "of 40 agents"},
			{"online", "status=online", hosts(func(i int) bool { return i%5 == 0 }), "Showing 1–24 of 24 agents"},
			{"offline", "status=offline&page=2", pageOf(hosts(func(i int) bool { return i%5 != 0 }), 2), "Showing 51–96 of 96 agents"},
			{"windows", "os=windows", hosts(func(i int) bool { return i%4 == 0 }), "of 30 agents"},
			{"combined", "client=" + lf.alpha.client.ID + "&status=online&os=linux", combined, fmt.Sprintf("of %d agents", len(combined))},
			{"search hostname ignoring case", "q=HOST-11", hosts(func(i int) bool { return i >= 110 }), "of 10 agents"},
			{"search IP", "q=10.1.0.77", []string{"host-077"}, "Showing 1–1 of 1 agents"},
			{"search user", "q=zaphod", []string{"host-042"}, "of 1 agents"},
			{"search with LIKE wildcards is literal", "q=host_%25", []string{}, "No agents match."},
			{"nothing", "q=no-such-host", []string{}, "No agents match."},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := b.get("/agents?" + tc.query)
				wantStatus(t, "GET /agents?"+tc.query, res, http.StatusOK)
				if diff := cmp.Diff(tc.want, hostnames(res.body)); diff != "" {
					t.Errorf("GET /agents?%s rows (-want +got):\n%s", tc.query, diff)
				}
				mustContain(t, "agents page", res.body, tc.count)
			})
		}

		t.Run("filter controls reflect the URL", func(t *testing.T) {
			res := b.get("/agents?site=" + lf.south + "&status=offline&os=windows&q=host")
			mustContain(t, "agents page", res.body,
				`<option value="`+lf.alpha.client.ID+`" selected>Alpha</option>`,
				`<option value="`+lf.south+`" selected>South</option>`,
				`<option value="offline" selected>Offline</option>`,
				`<option value="windows" selected>Windows</option>`,
				`id="q" name="q" value="host"`)
			mustNotContain(t, "agents page", res.body, `>Main</option>`) // Beta's site
		})

		t.Run("sort headers and pager links", func(t *testing.T) {
			res := b.get("/agents?status=offline")
			mustContain(t, "agents page", res.body,
				`<th scope="col" aria-sort="ascending"><a href="/agents?sort=-hostname&amp;status=offline"`,
				`<a href="/agents?sort=-last_seen&amp;status=offline"`,
				`href="/agents?page=2&amp;status=offline" rel="next"`)
			res = b.get("/agents?status=offline&sort=-hostname&page=2")
			mustContain(t, "agents page", res.body,
				`aria-sort="descending"><a href="/agents?status=offline"`,
				`href="/agents?sort=-hostname&amp;status=offline" rel="prev"`)
		})

		t.Run("htmx fragments", func(t *testing.T) {
			q := "/agents?q=host-0&client=" + lf.alpha.client.ID + "&site=&status=&os=&sort="
			res := b.get(q, "HX-Request", "true", "HX-Trigger", "agent-filters")
			wantStatus(t, "fragment", res, http.StatusOK)
			if !strings.HasPrefix(strings.TrimSpace(res.body), `<div id="agents-table"`) {
				t.Errorf("fragment starts with %.80q, want the table wrapper", strings.TrimSpace(res.body))
			}
			mustNotContain(t, "fragment", res.body, "<html", `id="agent-filters"`)
			mustContain(t, "fragment", res.body, `id="site-filter" hx-swap-oob="true"`, `id="sort-input"`, ">South</option>")
			want := "/agents?" + url.Values{"client": {lf.alpha.client.ID}, "q": {"host-0"}}.Encode()
			if got := res.header.Get("HX-Push-Url"); got != want {
				t.Errorf("HX-Push-Url %q, want %q", got, want)
			}
			if got := res.header.Get("Vary"); got != "HX-Request" {
				t.Errorf("Vary %q, want HX-Request", got)
			}
			if diff := cmp.Diff(pageOf(hosts(func(i int) bool { return i < 100 && i%3 != 2 }), 1), hostnames(res.body)); diff != "" {
				t.Errorf("fragment rows (-want +got):\n%s", diff)
			}

			live := b.get(want, "HX-Request", "true", "HX-Trigger", "agents-table")
			mustNotContain(t, "live refresh", live.body, "hx-swap-oob")
			if got := live.header.Get("HX-Push-Url"); got != "" {
				t.Errorf("live refresh pushes URL %q", got)
			}
			mustContain(t, "live refresh", live.body, `hx-get="`+strings.ReplaceAll(want, "&", "&amp;")+`" hx-trigger="sse:presence"`)

			restore := b.get(want, "HX-Request", "true", "HX-History-Restore-Request", "true")
			mustContain(t, "history restore", restore.body, "<!doctype html>", `id="agent-filters"`)
		})
	})
}

func TestAgentsListShowsFacts(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	a := e.enroll(f, linuxFacts("web-<01>"))
	e.connect(a, linuxFacts("web-<01>"))
	off := e.enroll(f, linuxFacts("zz-offline"))
	now := time.Now().UTC()
	e.ingest(a.ID, protocol.Sample{Time: now.Add(-time.Minute), Values: map[string]float64{
		"cpu.percent": 93.4, "memory.percent": 41, "disk.percent:/": 55, "disk.percent:/data": 78}})
	e.report(a.ID, webReport(now, deb("curl", "8.5.0")))
	if _, ok, err := e.db.OpenAlert(t.Context(), store.Alert{AgentID: a.ID, Rule: "cpu", Metric: "cpu.percent", Severity: "warning", OpenedAt: now}); err != nil || !ok {
		t.Fatalf("open alert: %v %v", ok, err)
	}
	b := e.signedIn(store.RoleReadonly)
	res := b.get("/agents")
	row := regexpFind(`(?s)(<tr>\s*<td class="status">.*?</tr>)`, res.body)
	mustContain(t, "agent row", row,
		`<span class="presence on"><span class="dot on" aria-hidden="true"></span>Online</span>`,
		`<a href="/agents/`+a.ID+`">web-&lt;01&gt;</a>`,
		`<a href="/clients/`+f.client.ID+`">Acme</a>`, `<a href="/sites/`+f.site.ID+`">HQ</a>`,
		`<td class="os" title="ubuntu 24.04">ubuntu 24.04</td>`, `data-rel>just now</time>`,
		`<a class="badge sev-warning" href="/alerts?agent=`+a.ID+`">1</a>`,
		`<td class="num hot">93 %</td>`, `<td class="num ">41 %</td>`, `<td class="num warm" title="fullest: /data">78 %</td>`,
		">alice<", "2 d 2 h", `<span class="badge warn">reboot pending</span>`)
	// The optional columns are off by default.
	mustNotContain(t, "agent row", row, `<td class="mono">0.1.0</td>`, "10.0.0.5")
	offRow := regexpFind(`(?s)(<tr class="offline">\s*<td class="status">.*?</tr>)`, res.body)
	mustContain(t, "offline row", offRow, `<span class="presence off">`, "Offline", `href="/agents/`+off.ID+`"`, `<td class="num ">—</td>`)
	mustContain(t, "agents page", res.body, `data-search`, `sse-connect="/events"`, `hx-trigger="sse:presence"`,
		`<a class="btn ghost" id="export-csv" href="/agents.csv" download>`,
		`<input type="checkbox" name="col" value="cpu" checked>`, `<input type="checkbox" name="col" value="ip">`)

	// The column chooser: the chosen set only, kept in the sort and pager links.
	res = b.get("/agents?col=os&col=ip&col=version&sort=-last_seen")
	mustContain(t, "chosen columns", res.body, `<td class="mono">0.1.0</td>`, `title="10.0.0.5, fe80::1">10.0.0.5 <span class="muted">+1</span>`,
		`href="/agents?col=os%2Cversion%2Cip"`, `<input type="checkbox" name="col" value="ip" checked>`,
		`href="/agents.csv?sort=-last_seen"`)
	mustNotContain(t, "chosen columns", res.body, `<td class="num hot">`, `<th scope="col">CPU</th>`)
	// Choosing exactly the default set gives the clean URL.
	res = b.get("/agents?" + url.Values{"col": web.DefaultColumns()}.Encode())
	mustContain(t, "default columns chosen", res.body, `href="/agents.csv"`)

	// The export: every matching agent, with its vitals, formula-safe.
	recs := b.getCSV("/agents.csv?status=online")
	if len(recs) != 2 {
		t.Fatalf("CSV has %d records, want a header and one agent: %q", len(recs), recs)
	}
	got := map[string]string{}
	for i, h := range recs[0] {
		got[h] = recs[1][i]
	}
	for k, want := range map[string]string{"hostname": "web-<01>", "client": "Acme", "status": "online", "unresolved_alerts": "1",
		"cpu_percent": "93.4", "disk_percent": "78.0", "disk_mount": "/data", "reboot_pending": "true", "users": "alice", "ip_addresses": "10.0.0.5 fe80::1"} {
		if got[k] != want {
			t.Errorf("CSV %s = %q, want %q", k, got[k], want)
		}
	}
}

func TestAgentsColumnsRemembered(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	e.enroll(f, linuxFacts("web-01"))
	b := e.signedIn(store.RoleReadonly)
	ipHeader := `<th scope="col">IP address</th>`
	mustNotContain(t, "default columns", b.get("/agents").body, ipHeader)
	mustContain(t, "chosen columns", b.get("/agents?col=os&col=ip").body, ipHeader)
	// The choice outlives its URL, in this browser only.
	mustContain(t, "agents page later", b.get("/agents").body, ipHeader)
	mustNotContain(t, "another browser", e.signedIn(store.RoleReadonly).get("/agents").body, ipHeader)
	// Choosing the default set again forgets the choice.
	mustNotContain(t, "default chosen", b.get("/agents?"+url.Values{"col": web.DefaultColumns()}.Encode()).body, ipHeader)
	mustNotContain(t, "agents page after", b.get("/agents").body, ipHeader)
}

// The export streams every matching agent, batch after batch, in the
// list's order, each once: no cap cuts a large fleet's file short.
func TestAgentsCSVEveryAgent(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *testEnv) {
		f := e.fixture("Big", "Main")
		const n = 1234 // three batches of the export's queries
		for i := range n {
			e.enroll(f, protocol.Facts{Hostname: fmt.Sprintf("pc-%04d", i), OS: "linux", Arch: "amd64", AgentVersion: "0.1.0"})
		}
		b := e.signedIn(store.RoleReadonly)
		recs := b.getCSV("/agents.csv?sort=-hostname")
		if len(recs) != n+1 {
			t.Fatalf("CSV has %d records, want a header and %d agents", len(recs), n)
		}
		for i, rec := range recs[1:] {
			if want := fmt.Sprintf("pc-%04d", n-1-i); rec[1] != want {
				t.Fatalf("record %d hostname %q, want %q (every agent once, in the list's order)", i+1, rec[1], want)
			}
		}
	})
}

// getCSV downloads a CSV export and parses it.
func (b *browser) getCSV(path string) [][]string {
	b.t.Helper()
	res := b.get(path)
	wantStatus(b.t, "GET "+path, res, http.StatusOK)
	if ct := res.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		b.t.Errorf("GET %s: content type %q, want text/csv", path, ct)
	}
	recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil {
		b.t.Fatalf("read CSV of %s: %v\n%s", path, err, res.body)
	}
	return recs
}
