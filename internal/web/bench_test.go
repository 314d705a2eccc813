package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// BenchmarkAgentsPage renders the agents list of a client with 10,000
// agents (a second client has 500 more), in-process through the real mux
// with a real session. Only the request is timed. SQLite always;
// PostgreSQL too when STEWARD_TEST_DATABASE_URL is set.
//
//	go test -run '^$' -bench AgentsPage -benchtime 200x ./internal/web
func BenchmarkAgentsPage(b *testing.B) { eachBenchEngine(b, benchmarkAgentsPage) }

// eachBenchEngine runs a dashboard benchmark on SQLite and, when
// STEWARD_TEST_DATABASE_URL is set, on a fresh PostgreSQL database;
// fn gets the database URL, "" for SQLite.
func eachBenchEngine(b *testing.B, fn func(b *testing.B, databaseURL string)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, "") })
	if os.Getenv(storetest.EnvPostgresURL) != "" {
		b.Run("postgres", func(b *testing.B) { fn(b, storetest.NewPostgresDatabase(b)) })
	}
}

func benchmarkAgentsPage(b *testing.B, databaseURL string) {
	opts := envOptions(b)
	opts.DatabaseURL = databaseURL
	e := newEnv(b, servertest.Start(b, opts))
	ctx := context.Background()
	big := e.fixture("Big Client", "Site 0")
	small := e.fixture("Small Client", "Only")
	sites := []fixture{big}
	for i := 1; i < 5; i++ {
		s, err := e.mgr.CreateSite(ctx, access.Console(), big.client.ID, fmt.Sprintf("Site %d", i))
		if err != nil {
			b.Fatal(err)
		}
		tok, _, err := e.mgr.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
		if err != nil {
			b.Fatal(err)
		}
		sites = append(sites, fixture{client: big.client, site: s, token: tok})
	}
	start := time.Now()
	enroll := func(f fixture, i int) {
		facts := protocol.Facts{
			Hostname: fmt.Sprintf("ws-%05d", i), OS: []string{"windows", "linux", "darwin"}[i%3], OSName: "Some OS", OSVersion: "1.0",
			Arch: "amd64", AgentVersion: "0.1.0", IPAddresses: []string{fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)},
			Users: []string{fmt.Sprintf("user%d", i)},
		}
		a, err := e.db.Enroll(ctx, auth.HashSecret(f.token), store.NewAgent{SecretHash: "x", Facts: facts})
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			if err := e.db.MarkConnected(ctx, store.Connection{AgentID: a.ID, ConnID: a.ID, ReplicaID: "r", Facts: facts}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range 10_000 {
		enroll(sites[i%len(sites)], i)
	}
	for i := range 500 {
		enroll(small, 10_000+i)
	}
	// An hour of samples for every agent, so the list's vitals columns
	// (CPU, RAM, fullest disk now) read real rows. Agents sample on their
	// own clocks: no two share an instant to the millisecond.
	agents, _, err := e.db.ListAgents(ctx, store.AgentFilter{}, store.Page{Limit: 500})
	if err != nil {
		b.Fatal(err)
	}
	for off := 0; len(agents) > 0; {
		var rows []store.SampleRow
		for i, a := range agents {
			for m := range 12 {
				at := start.Add(-time.Duration(60-5*m)*time.Minute + time.Duration(off+i)*time.Millisecond)
				for metric, v := range map[string]float64{"cpu.percent": float64(i % 100), "memory.percent": 50, "disk.percent:/": 40, "disk.percent:/var": 70} {
					rows = append(rows, store.SampleRow{AgentID: a.ID, Metric: metric, At: at, Value: v})
				}
			}
		}
		if err := e.db.WithTx(ctx, func(tx *store.Tx) error { return tx.InsertSamples(ctx, rows) }); err != nil {
			b.Fatal(err)
		}
		off += len(agents)
		if agents, _, err = e.db.ListAgents(ctx, store.AgentFilter{}, store.Page{Limit: 500, Offset: off}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded 10,500 agents and an hour of their samples in %v", time.Since(start).Round(time.Millisecond))

	br := e.signedIn(store.RoleTechnician)
	benchPages(b, e, br, []benchPage{
		{name: "client", url: "/agents?client=" + big.client.ID},
		{name: "client/fragment", url: "/agents?client=" + big.client.ID, headers: []string{"HX-Request", "true", "HX-Trigger", "agents-table"}},
		{name: "client/last_page", url: "/agents?client=" + big.client.ID + "&page=200"},
		{name: "client/sort_last_seen", url: "/agents?client=" + big.client.ID + "&sort=-last_seen"},
		{name: "client/search", url: "/agents?client=" + big.client.ID + "&q=ws-012", headers: []string{"HX-Request", "true", "HX-Trigger", "agent-filters"}},
		{name: "all/offline", url: "/agents?status=offline"},
		{name: "home", url: "/"},
	})
}

// benchPage is a page a benchmark requests: its URL, the headers sent and
// a text its answer must contain.
type benchPage struct {
	name, url, want string
	headers         []string
}

// benchPages times each page, in-process through the real mux with br's
// session; an answer other than 200 with the wanted text fails.
func benchPages(b *testing.B, e *testEnv, br *browser, pages []benchPage) {
	cookies := br.c.Jar.Cookies(br.base)
	handler := e.srv.Handler()
	for _, bc := range pages {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.url, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				for i := 0; i+1 < len(bc.headers); i += 2 {
					req.Header.Set(bc.headers[i], bc.headers[i+1])
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), bc.want) {
					b.Fatalf("GET %s: status %d, want 200 with %q", bc.url, rec.Code, bc.want)
				}
			}
		})
	}
}
