package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func insertSamples(t *testing.T, db *store.DB, rows ...store.SampleRow) {
	t.Helper()
	if err := db.WithTx(t.Context(), func(tx *store.Tx) error { return tx.InsertSamples(t.Context(), rows) }); err != nil {
		t.Fatalf("InsertSamples: %v", err)
	}
}

// hourly reads rollups of [from, to) per hour, with no raw samples after
// them because to is where the rolled hours end.
func hourly(t *testing.T, db *store.DB, agent, metric string, from, to time.Time) []store.Aggregate {
	t.Helper()
	got, err := db.RollupSeries(t.Context(), agent, metric, from, to, time.Hour, store.PreferRollups)
	if err != nil {
		t.Fatalf("RollupSeries: %v", err)
	}
	return got
}

func TestRollUp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		h1, h2 := h0.Add(time.Hour), h0.Add(2*time.Hour)
		s := func(agent, metric string, at time.Time, v float64) store.SampleRow {
			return store.SampleRow{AgentID: agent, Metric: metric, At: at, Value: v}
		}
		insertSamples(t, db,
			s("a", "cpu.percent", h0, 10), s("a", "cpu.percent", h0.Add(20*time.Minute), 20), s("a", "cpu.percent", h0.Add(59*time.Minute), 60),
			s("a", "cpu.percent", h1.Add(time.Minute), 5),
			s("a", "disk.percent:/", h0.Add(time.Minute), 70), s("a", "disk.percent:/", h0.Add(2*time.Minute), 72),
			s("b", "cpu.percent", h1, 1), s("b", "cpu.percent", h1.Add(time.Minute), 3),
			s("a", "cpu.percent", h2.Add(time.Minute), 99), // the third hour: not rolled
		)
		n, err := db.RollUp(ctx, h0, h2)
		if err != nil || n != 4 {
			t.Fatalf("RollUp = %d, %v; want 4 rollups", n, err)
		}
		tests := []struct {
			agent, metric string
			want          []store.Aggregate
		}{
			{"a", "cpu.percent", []store.Aggregate{{T: h0, Min: 10, Avg: 30, Max: 60, Count: 3}, {T: h1, Min: 5, Avg: 5, Max: 5, Count: 1}}},
			{"a", "disk.percent:/", []store.Aggregate{{T: h0, Min: 70, Avg: 71, Max: 72, Count: 2}}},
			{"b", "cpu.percent", []store.Aggregate{{T: h1, Min: 1, Avg: 2, Max: 3, Count: 2}}},
		}
		check := func(when string) {
			t.Helper()
			for _, tt := range tests {
				if diff := cmp.Diff(tt.want, hourly(t, db, tt.agent, tt.metric, h0, h2)); diff != "" {
					t.Errorf("%s: rollups of %s %s (-want +got):\n%s", when, tt.agent, tt.metric, diff)
				}
			}
		}
		check("first run")

		// Rolling again changes nothing; a late sample updates its hour.
		if n, err := db.RollUp(ctx, h0, h2); err != nil || n != 4 {
			t.Fatalf("RollUp again = %d, %v; want 4", n, err)
		}
		check("second run")
		insertSamples(t, db, s("b", "cpu.percent", h1.Add(30*time.Minute), 8))
		if _, err := db.RollUp(ctx, h0, h2); err != nil {
			t.Fatal(err)
		}
		tests[2].want = []store.Aggregate{{T: h1, Min: 1, Avg: 4, Max: 8, Count: 3}}
		check("after a late sample")

		// An hour that raw retention has begun to prune keeps its rollup.
		if _, err := db.DeleteSamplesBefore(ctx, h0.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RollUp(ctx, h0, h2); err != nil {
			t.Fatal(err)
		}
		check("after pruning part of the first hour")

		// Raw samples come first where they exist; rollups fill the
		// hours before them.
		got, err := db.RollupSeries(ctx, "a", "cpu.percent", h0, h2.Add(time.Hour), 0, store.PreferRaw)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Aggregate{
			{T: h0.Add(59 * time.Minute), Min: 60, Avg: 60, Max: 60, Count: 1},
			{T: h1.Add(time.Minute), Min: 5, Avg: 5, Max: 5, Count: 1},
			{T: h2.Add(time.Minute), Min: 99, Avg: 99, Max: 99, Count: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PreferRaw with raw samples in every hour (-want +got):\n%s", diff)
		}
		if _, err := db.DeleteSamplesBefore(ctx, h1); err != nil {
			t.Fatal(err)
		}
		got, err = db.RollupSeries(ctx, "a", "cpu.percent", h0, h2.Add(time.Hour), 0, store.PreferRaw)
		if err != nil {
			t.Fatal(err)
		}
		want[0] = store.Aggregate{T: h0, Min: 10, Avg: 30, Max: 60, Count: 3}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PreferRaw with the first hour pruned (-want +got):\n%s", diff)
		}

		// Retention removes whole hours before the cutoff.
		if n, err := db.DeleteRollupsBefore(ctx, h1); err != nil || n != 2 {
			t.Fatalf("DeleteRollupsBefore = %d, %v; want 2", n, err)
		}
		if got := hourly(t, db, "a", "cpu.percent", h0, h2); len(got) != 1 || !got[0].T.Equal(h1) {
			t.Errorf("after pruning rollups before %s: %v, want only %s", h1, got, h1)
		}
	})
}

func TestRollupState(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		h := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		mark := func() time.Time {
			t.Helper()
			got, err := db.RolledUpTo(ctx)
			if err != nil {
				t.Fatalf("RolledUpTo: %v", err)
			}
			return got
		}
		if got := mark(); !got.IsZero() {
			t.Fatalf("RolledUpTo before any rollup = %s, want zero", got)
		}
		steps := []struct {
			name     string
			old, new time.Time
			want     bool
		}{
			{"create", time.Time{}, h, true},
			{"create again", time.Time{}, h.Add(time.Hour), false},
			{"advance", h, h.Add(2 * time.Hour), true},
			{"advance from a stale mark", h, h.Add(3 * time.Hour), false},
		}
		for _, s := range steps {
			if ok, err := db.AdvanceRollups(ctx, s.old, s.new); err != nil || ok != s.want {
				t.Errorf("%s: AdvanceRollups(%s, %s) = %t, %v; want %t", s.name, s.old, s.new, ok, err, s.want)
			}
		}
		rewind := func(to time.Time) {
			t.Helper()
			if err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.RewindRollups(ctx, to) }); err != nil {
				t.Fatalf("RewindRollups: %v", err)
			}
		}
		rewind(h.Add(5 * time.Hour)) // later than the mark: no change
		if got, want := mark(), h.Add(2*time.Hour); !got.Equal(want) {
			t.Errorf("after rewinding to a later hour: RolledUpTo = %s, want %s", got, want)
		}
		rewind(h.Add(-90 * time.Minute))
		if got, want := mark(), h.Add(-2*time.Hour); !got.Equal(want) {
			t.Errorf("after rewinding: RolledUpTo = %s, want %s", got, want)
		}
	})
}
