package timeseries_test

import (
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
	"github.com/steward-rmm/steward/internal/timeseries"
)

// ingest stores one cpu.percent value per time.
func ingest(t *testing.T, ts *timeseries.Store, agent string, times []time.Time, value func(time.Time) float64) {
	t.Helper()
	var samples []protocol.Sample
	for _, at := range times {
		samples = append(samples, protocol.Sample{Time: at, Values: map[string]float64{"cpu.percent": value(at)}})
	}
	for i := 0; i < len(samples); i += protocol.MaxSamplesPerBatch {
		if _, err := ts.Ingest(t.Context(), agent, protocol.MetricsBatch{Samples: samples[i:min(i+protocol.MaxSamplesPerBatch, len(samples))]}); err != nil {
			t.Fatal(err)
		}
	}
}

func rollUp(t *testing.T, ts *timeseries.Store, runs int) {
	t.Helper()
	for range runs {
		if err := ts.RollUp(t.Context()); err != nil {
			t.Fatalf("RollUp: %v", err)
		}
	}
}

// month reads the last 30 days, which Series serves from rollups.
func month(t *testing.T, ts *timeseries.Store, agent string, now time.Time) map[time.Time]float64 {
	t.Helper()
	points, bucket, err := ts.Series(t.Context(), agent, "cpu.percent", now.Add(-30*24*time.Hour), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if bucket != time.Hour {
		t.Errorf("30-day Series bucket = %s, want 1h0m0s", bucket)
	}
	out := make(map[time.Time]float64, len(points))
	for _, p := range points {
		out[p.T] = p.V
	}
	return out
}

func TestRollUpJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ts := timeseries.New(db, discard(), nil)
		agent := enroll(t, db, 1)[0]
		now := time.Now().UTC()
		hour := now.Truncate(time.Hour)
		// One sample an hour for 29 days, the hour's number of days ago,
		// and two in the current hour.
		var times []time.Time
		for at := hour.Add(-29 * 24 * time.Hour); at.Before(hour); at = at.Add(time.Hour) {
			times = append(times, at.Add(30*time.Minute))
		}
		ingest(t, ts, agent, times, func(at time.Time) float64 { return float64(hour.Sub(at) / (24 * time.Hour)) })
		ingest(t, ts, agent, []time.Time{hour, now}, func(time.Time) float64 { return 50 })

		// The first run starts at the oldest sample and rolls 48 hours; the
		// following runs catch up.
		rollUp(t, ts, 1)
		if err := ts.Prune(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if got := month(t, ts, agent, now); len(got) != 48 {
			t.Errorf("after one run and pruning raw samples: %d hourly points, want 48", len(got))
		}
		ingest(t, ts, agent, times[48:], func(at time.Time) float64 { return float64(hour.Sub(at) / (24 * time.Hour)) })
		ingest(t, ts, agent, []time.Time{hour, now}, func(time.Time) float64 { return 50 })
		rollUp(t, ts, 20)

		got := month(t, ts, agent, now)
		if len(got) != len(times)+1 {
			t.Errorf("30-day Series has %d points, want %d rolled-up hours and the current one", len(got), len(times))
		}
		if v := got[hour]; v != 50 {
			t.Errorf("current hour, not rolled up yet, = %v, want the raw average 50", v)
		}
		// A late sample ten days back moves the job back to its hour.
		tenDays := times[len(times)-10*24]
		ingest(t, ts, agent, []time.Time{tenDays.Add(10 * time.Minute)}, func(time.Time) float64 { return 30 })
		rollUp(t, ts, 10)

		if err := ts.Prune(ctx, 0); err != nil {
			t.Fatal(err)
		}
		got = month(t, ts, agent, now)
		// Unless the clock passed an hour meanwhile and the job rolled
		// what was the current hour.
		if len(got) != len(times) && time.Now().UTC().Truncate(time.Hour).Equal(hour) {
			t.Errorf("after pruning every raw sample: %d points, want %d rolled-up hours (the current hour is never rolled)", len(got), len(times))
		}
		for _, at := range times {
			want := float64(hour.Sub(at) / (24 * time.Hour))
			if at.Equal(tenDays) {
				want = (want + 30) / 2
			}
			if v := got[at.Truncate(time.Hour)]; v != want {
				t.Errorf("rollup of %s = %v, want %v", at.Truncate(time.Hour), v, want)
			}
		}

		// Retention removes old rollups.
		if err := ts.PruneRollups(ctx, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := month(t, ts, agent, now); len(got) > 24 {
			t.Errorf("after pruning rollups older than a day: %d points, want at most 24", len(got))
		}
	})
}
