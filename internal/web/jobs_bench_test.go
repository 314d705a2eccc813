package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// BenchmarkJobPage renders the page of a job of 10,000 runs (7,000
// finished, 1,000 running, 2,000 queued), in-process through the real mux
// with a real session: the first and the last page of runs, runs by
// status, and the progress part the page polls. Only the request is
// timed. SQLite always; PostgreSQL too when STEWARD_TEST_DATABASE_URL is
// set.
//
//	go test -run '^$' -bench JobPage -benchtime 50x ./internal/web
func BenchmarkJobPage(b *testing.B) { eachBenchEngine(b, benchmarkJobPage) }

func benchmarkJobPage(b *testing.B, databaseURL string) {
	opts := envOptions(b)
	opts.DatabaseURL = databaseURL
	e := newEnv(b, servertest.Start(b, opts))
	ctx := context.Background()
	f := e.fixture("Big Client", "Big Site")
	start := time.Now()
	for i := range 10_000 {
		facts := protocol.Facts{Hostname: fmt.Sprintf("ws-%05d", i), OS: "linux", Arch: "amd64", AgentVersion: "0.1.0"}
		if _, err := e.db.Enroll(ctx, auth.HashSecret(f.token), store.NewAgent{SecretHash: "x", Facts: facts}); err != nil {
			b.Fatal(err)
		}
	}
	br := e.signedIn(store.RoleTechnician)
	res := br.post("/jobs", url.Values{"target": {"site:" + f.site.ID}, "language": {"bash"}, "body": {"echo hello"}})
	if res.status != http.StatusSeeOther {
		b.Fatalf("run: status %d\n%s", res.status, res.body)
	}
	jobURL := location(res)
	jobID := strings.TrimPrefix(jobURL, "/jobs/")
	// 8,000 runs start; 7,000 of them finish (one in ten failing) with
	// some output.
	var starts []store.RunStart
	var results []store.CommandResult
	var pieces []store.OutputPiece
	now := time.Now()
	for off := 0; ; off += 500 {
		runs, _, err := e.db.JobRuns(ctx, jobID, store.Page{Limit: 500, Offset: off})
		if err != nil {
			b.Fatal(err)
		}
		if len(runs) == 0 {
			break
		}
		for i, r := range runs {
			n := off + i
			if n >= 8_000 {
				break
			}
			starts = append(starts, store.RunStart{CommandID: r.CommandID, AgentID: r.AgentID, At: now})
			if n >= 7_000 {
				continue
			}
			pieces = append(pieces, store.OutputPiece{CommandID: r.CommandID, AgentID: r.AgentID, Stream: protocol.StreamStdout, Data: []byte("hello\n")})
			st, code := protocol.ScriptSucceeded, 0
			if n%10 == 0 {
				st, code = protocol.ScriptFailed, 1
			}
			out, _ := json.Marshal(protocol.ScriptResult{Status: st, ExitCode: code, StartedAt: now, FinishedAt: now.Add(time.Second)})
			results = append(results, store.CommandResult{CommandID: r.CommandID, AgentID: r.AgentID, Status: protocol.ResultOK, Output: string(out), At: now})
		}
	}
	if _, err := e.db.MarkRunsStarted(ctx, starts); err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.db.AddJobOutput(ctx, pieces); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.ApplyResults(ctx, results); err != nil {
		b.Fatal(err)
	}
	storetest.Analyze(b, databaseURL)
	b.Logf("seeded a job of 10,000 runs in %v", time.Since(start).Round(time.Millisecond))

	if os.Getenv("STEWARD_BENCH_PARTS") != "" {
		job, err := e.db.GetJob(ctx, jobID)
		if err != nil {
			b.Fatal(err)
		}
		for name, fn := range map[string]func() error{
			"counts": func() error { _, err := e.db.JobRunCounts(ctx, jobID); return err },
			"runs":   func() error { _, _, err := e.db.JobRuns(ctx, job.ID, store.Page{Limit: 100}); return err },
			"runs_last": func() error {
				_, _, err := e.db.JobRuns(ctx, job.ID, store.Page{Limit: 100, Offset: 9900})
				return err
			},
		} {
			b.Run("store_"+name, func(b *testing.B) {
				for b.Loop() {
					if err := fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	benchPages(b, e, br, []benchPage{
		{name: "first", url: jobURL, want: "7,000 of 10,000 done"},
		{name: "last", url: jobURL + "?page=100", want: "Showing 9,901–10,000 of 10,000"},
		{name: "failed", url: jobURL + "?status=failed", want: "Showing 1–100 of 700"},
		{name: "queued", url: jobURL + "?status=queued&page=20", want: "Showing 1,901–2,000 of 2,000"},
		{name: "progress", url: jobURL + "?part=progress", want: "7,000 of 10,000 done", headers: []string{"HX-Request", "true"}},
	})
}
