package e2e

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store/storetest"
)

// EnvBenchJobs turns TestJobsBench on: the fleet sizes, comma-separated
// (e.g. "1000,10000"); STEWARD_BENCH_JOBS_DB=postgres runs it on
// PostgreSQL (with STEWARD_TEST_DATABASE_URL set).
const EnvBenchJobs = "STEWARD_BENCH_JOBS"

// TestJobsBench is the jobs benchmark of docs/benchmarks.md, not a CI
// test: a trivial script run on a simulated fleet (the simulator answers
// by echoing the arguments as output), timed from the request to every
// result stored, with the server's CPU and memory. It logs what it
// measured.
func TestJobsBench(t *testing.T) {
	v := os.Getenv(EnvBenchJobs)
	if v == "" {
		t.Skipf("jobs benchmark skipped: set %s=1000,10000 to run it", EnvBenchJobs)
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want fleet sizes", EnvBenchJobs, v)
		}
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) { benchJobs(t, n) })
	}
}

func benchJobs(t *testing.T, n int) {
	dbURL := ""
	if os.Getenv(storetest.EnvPostgresURL) != "" && os.Getenv("STEWARD_BENCH_JOBS_DB") == "postgres" {
		dbURL = storetest.NewPostgresDatabase(t)
	}
	flags := []string{"--heartbeat", "30s", "--log-level", "warn"}
	profile := os.Getenv("STEWARD_BENCH_JOBS_PROFILE") // a file for a CPU profile of the run
	debugAddr := freeAddr(t)
	if profile != "" {
		flags = append(flags, "--debug-listen", debugAddr)
	}
	bf := newBenchFleet(t, dbURL, flags...)
	srv, api := bf.srv, bf.api
	site, tok := struct{ ID string }{bf.siteID}, struct{ Token string }{bf.token}
	startSimFleet(t, srv.URL, tok.Token, n, t.TempDir())
	waitOnline(t, api, n, 10*time.Minute)
	pid := srv.cmd.Process.Pid
	rssBefore := procStatusKB(t, pid, "VmRSS")

	profiled := make(chan struct{})
	if profile != "" {
		go func() {
			defer close(profiled)
			resp, err := http.Get("http://" + debugAddr + "/debug/pprof/profile?seconds=10")
			if err != nil {
				t.Errorf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			os.WriteFile(profile, b, 0o644)
		}()
	} else {
		close(profiled)
	}
	cpu0 := procCPU(t, pid)
	start := time.Now()
	var res struct {
		ID     string
		Agents int
	}
	api.mustDo("POST", "/api/v1/jobs", map[string]any{"site_id": site.ID, "language": "sh", "body": "echo \"$@\"",
		"args": []string{"hello", "from", "the", "benchmark"}, "confirm": n}, &res, 201)
	created := time.Since(start)
	if res.Agents != n {
		t.Fatalf("job for %d agents, want %d", res.Agents, n)
	}
	var (
		peakRSS float64
		prog    struct {
			Job struct {
				Progress struct {
					Total    int
					Finished int
					ByStatus map[string]int `json:"by_status"`
				}
			}
		}
		firstDone time.Duration
	)
	for {
		api.mustDo("GET", "/api/v1/jobs/"+res.ID+"?limit=1", nil, &prog, 200)
		peakRSS = max(peakRSS, procStatusKB(t, pid, "VmRSS"))
		if firstDone == 0 && prog.Job.Progress.Finished > 0 {
			firstDone = time.Since(start)
		}
		if prog.Job.Progress.Finished == n {
			break
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("not every run finished after 5 minutes: %+v", prog.Job.Progress)
		}
		time.Sleep(100 * time.Millisecond) // a benchmark's sampling interval, not a synchronisation
	}
	all := time.Since(start)
	<-profiled
	cpu := procCPU(t, pid) - cpu0
	if got := prog.Job.Progress.ByStatus["succeeded"]; got != n {
		t.Errorf("%d runs succeeded, want %d: %v", got, n, prog.Job.Progress.ByStatus)
	}
	// The job page's first page of runs with their output, timed on the
	// server's side of the socket (one request, warm).
	pageStart := time.Now()
	api.mustDo("GET", "/api/v1/jobs/"+res.ID, nil, nil, 200)
	page := time.Since(pageStart)
	t.Logf("jobs benchmark, %d agents (%s): job created in %v; first result stored after %v, all %d after %v; "+
		"server CPU %.1f s; RSS before %.1f MiB, peak %.1f MiB; GET /api/v1/jobs/{id} (50 runs with output) %v",
		n, dbName(dbURL), created.Round(time.Millisecond), firstDone.Round(time.Millisecond), n, all.Round(time.Millisecond),
		cpu, rssBefore/1024, peakRSS/1024, page.Round(time.Millisecond))
}

func dbName(url string) string {
	if url == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}
