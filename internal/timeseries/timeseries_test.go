package timeseries_test

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
	"github.com/steward-rmm/steward/internal/timeseries"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// enroll creates n agents and returns their IDs.
func enroll(t testing.TB, db *store.DB, n int) []string {
	t.Helper()
	ctx := t.Context()
	svc := manage.New(db)
	c, err := svc.CreateClient(ctx, access.Console(), fmt.Sprintf("Client %d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := svc.CreateSite(ctx, access.Console(), c.ID, "Site")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		a, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: fmt.Sprintf("h%d", i), OS: "linux"}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	return ids
}

func TestIngest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ts := timeseries.New(db, discard(), nil)
		agent := enroll(t, db, 1)[0]
		now := time.Now().UTC().Truncate(time.Second)
		batch := protocol.MetricsBatch{Samples: []protocol.Sample{
			{Time: now.Add(-2 * time.Minute), Values: map[string]float64{"cpu.percent": 12.5, "memory.percent": 40, "disk.percent:/": 71}},
			{Time: now.Add(-time.Minute), Values: map[string]float64{
				"cpu.percent":             15,
				"memory.percent":          -1,  // impossible
				"disk.percent":            50,  // missing instance
				"bogus.metric":            1,   // unknown
				"cpu.core_percent:0":      101, // over 100
				"net.rx_bytes_per_s:eth0": 2048,
			}},
			{Time: now.Add(time.Hour), Values: map[string]float64{"cpu.percent": 1}},            // future
			{Time: now.Add(-60 * 24 * time.Hour), Values: map[string]float64{"cpu.percent": 1}}, // too old
		}}
		ack, err := ts.Ingest(t.Context(), agent, batch)
		if err != nil {
			t.Fatalf("Ingest: %v", err)
		}
		if ack.Stored != 5 {
			t.Errorf("stored = %d, want 5", ack.Stored)
		}
		want := map[string]int{protocol.RejectBadValue: 2, protocol.RejectUnknownMetric: 2, protocol.RejectFutureTime: 1, protocol.RejectTooOld: 1}
		for k, v := range want {
			if ack.Rejected[k] != v {
				t.Errorf("rejected[%s] = %d, want %d (all: %v)", k, ack.Rejected[k], v, ack.Rejected)
			}
		}
		// A resent batch stores nothing twice.
		if _, err := ts.Ingest(t.Context(), agent, batch); err != nil {
			t.Fatalf("Ingest again: %v", err)
		}
		points, bucket, err := ts.Series(t.Context(), agent, "cpu.percent", now.Add(-time.Hour), now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if bucket != 0 || len(points) != 2 || points[0].V != 12.5 || points[1].V != 15 {
			t.Errorf("Series = %v (bucket %s), want two raw points 12.5 and 15", points, bucket)
		}
	})
}

func TestSeriesBuckets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ts := timeseries.New(db, discard(), nil)
		agent := enroll(t, db, 1)[0]
		end := time.Now().UTC().Truncate(time.Hour)
		start := end.Add(-24 * time.Hour)
		var samples []protocol.Sample
		for at := start; at.Before(end); at = at.Add(time.Minute) {
			samples = append(samples, protocol.Sample{Time: at, Values: map[string]float64{"memory.percent": 50}})
		}
		for i := 0; i < len(samples); i += protocol.MaxSamplesPerBatch {
			if _, err := ts.Ingest(t.Context(), agent, protocol.MetricsBatch{Samples: samples[i:min(i+protocol.MaxSamplesPerBatch, len(samples))]}); err != nil {
				t.Fatal(err)
			}
		}
		points, bucket, err := ts.Series(t.Context(), agent, "memory.percent", start, end, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if bucket != 2*time.Minute || len(points) != 720 {
			t.Errorf("24 h of minute samples: %d points at bucket %s, want 720 at 2m0s", len(points), bucket)
		}
		for _, p := range points {
			if p.V != 50 {
				t.Fatalf("bucket average = %v, want 50", p.V)
			}
		}
	})
}

func TestIngestConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ts := timeseries.New(db, discard(), nil)
		agents := enroll(t, db, 20)
		now := time.Now().UTC().Truncate(time.Second)
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Go(func() {
				for i := range 10 {
					b := protocol.MetricsBatch{Samples: []protocol.Sample{{Time: now.Add(-time.Duration(i) * time.Second), Values: map[string]float64{"cpu.percent": float64(i)}}}}
					if _, err := ts.Ingest(t.Context(), a, b); err != nil {
						t.Errorf("Ingest: %v", err)
					}
				}
			})
		}
		wg.Wait()
		for _, a := range agents {
			points, _, err := ts.Series(t.Context(), a, "cpu.percent", now.Add(-time.Minute), now.Add(time.Second), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if len(points) != 10 {
				t.Errorf("agent %s has %d points, want 10", a, len(points))
			}
		}
	})
}

// BenchmarkIngest measures stored metric values per second: 200 agents
// each sending batches of 10 samples of 20 values, from 8 goroutines.
func BenchmarkIngest(b *testing.B) {
	backends := map[string]func(b *testing.B) store.Options{
		"sqlite":   func(b *testing.B) store.Options { return store.Options{DataDir: b.TempDir()} },
		"postgres": func(b *testing.B) store.Options { return store.Options{URL: storetest.NewPostgresDatabase(b)} },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db, err := store.Open(b.Context(), backends[name](b))
			if err != nil {
				b.Fatalf("open %s: %v", name, err)
			}
			defer db.Close()
			ts := timeseries.New(db, discard(), nil)
			agents := enroll(b, db, 200)
			base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
			var (
				mu   sync.Mutex
				next int
			)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= b.N {
							return
						}
						agent := agents[(i+w)%len(agents)]
						batch := protocol.MetricsBatch{}
						for s := range 10 {
							vals := make(map[string]float64, 20)
							for c := range 16 {
								vals[fmt.Sprintf("cpu.core_percent:%d", c)] = 10
							}
							vals["cpu.percent"], vals["memory.percent"], vals["disk.percent:/"], vals["processes.count"] = 10, 20, 30, 100
							batch.Samples = append(batch.Samples, protocol.Sample{Time: base.Add(time.Duration(i*10+s) * time.Millisecond), Values: vals})
						}
						if _, err := ts.Ingest(b.Context(), agent, batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*10*20)/time.Since(start).Seconds(), "values/s")
		})
	}
}

func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ts := timeseries.New(db, discard(), nil)
		agent := enroll(t, db, 1)[0]
		now := time.Now().UTC().Truncate(time.Second)
		b := protocol.MetricsBatch{Samples: []protocol.Sample{
			{Time: now.Add(-3 * time.Hour), Values: map[string]float64{"cpu.percent": 1}},
			{Time: now.Add(-10 * time.Minute), Values: map[string]float64{"cpu.percent": 2}},
		}}
		if _, err := ts.Ingest(t.Context(), agent, b); err != nil {
			t.Fatal(err)
		}
		retention, _, err := effective.NewPolicies(db).Retention(t.Context())
		if err != nil || retention != 7*24*time.Hour {
			t.Errorf("DefaultRetention = %s, %v; want the built-in 168h", retention, err)
		}
		if err := ts.Prune(t.Context(), time.Hour); err != nil {
			t.Fatal(err)
		}
		points, _, err := ts.Series(t.Context(), agent, "cpu.percent", now.Add(-24*time.Hour), now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(points) != 1 || points[0].V != 2 {
			t.Errorf("after pruning at 1h: %v, want only the recent point", points)
		}
	})
}
