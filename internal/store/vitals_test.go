package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestAgentVitals(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := context.Background()
		f := newFleet(t, db, clk)
		now := time.Now().UTC().Truncate(time.Millisecond)
		sample := func(a store.Agent, at time.Time, vals map[string]float64) []store.SampleRow {
			var rows []store.SampleRow
			for m, v := range vals {
				rows = append(rows, store.SampleRow{AgentID: a.ID, Metric: m, At: at, Value: v})
			}
			return rows
		}
		var rows []store.SampleRow
		// alpha: an old sample, then the latest one, whose values win.
		rows = append(rows, sample(f.alpha, now.Add(-2*time.Minute), map[string]float64{"cpu.percent": 99, "memory.percent": 99, "disk.percent:/": 99})...)
		rows = append(rows, sample(f.alpha, now.Add(-time.Minute), map[string]float64{
			"cpu.percent": 12.5, "memory.percent": 40, "disk.percent:/": 55, "disk.percent:/var": 81, "net.rx_bytes_per_s:eth0": 5})...)
		// bravo sampled at alpha's old instant: its rows must not leak into alpha's.
		rows = append(rows, sample(f.bravo, now.Add(-2*time.Minute), map[string]float64{"memory.percent": 70})...)
		// charlie's only sample is older than the cut-off.
		rows = append(rows, sample(f.charlie, now.Add(-time.Hour), map[string]float64{"cpu.percent": 50})...)
		if err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.InsertSamples(ctx, rows) }); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := db.OpenAlert(ctx, store.Alert{AgentID: f.alpha.ID, Rule: "cpu", Metric: "cpu.percent", Severity: "warning", OpenedAt: now}); err != nil || !ok {
			t.Fatalf("open alert: %v %v", ok, err)
		}
		yes := true
		if err := db.WithTx(ctx, func(tx *store.Tx) error {
			return tx.PutInventorySnapshot(ctx, store.InventorySnapshot{AgentID: f.bravo.ID, CollectedAt: now, ReceivedAt: now,
				Reason: protocol.InventorySchedule, OS: protocol.OSInfo{Name: "Ubuntu", PendingReboot: &yes}, Errors: []string{}})
		}); err != nil {
			t.Fatal(err)
		}

		got, err := db.AgentVitals(ctx, []string{f.alpha.ID, f.bravo.ID, f.charlie.ID, f.delta.ID}, now.Add(-10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		p := func(v float64) *float64 { return &v }
		want := map[string]store.Vitals{
			f.alpha.ID: {Alerts: 1, CPU: p(12.5), Memory: p(40), Disk: p(81), DiskMount: "/var", SampledAt: now.Add(-time.Minute)},
			f.bravo.ID: {Memory: p(70), SampledAt: now.Add(-2 * time.Minute), PendingReboot: &yes},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("vitals (-want +got):\n%s", d)
		}
		if got, err := db.AgentVitals(ctx, nil, now); err != nil || len(got) != 0 {
			t.Errorf("vitals of no agents = %v, %v; want none", got, err)
		}
	})
}

func TestListAlertsSearchAndNames(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := context.Background()
		f := newFleet(t, db, clk)
		open := func(a store.Agent, rule, msg string) {
			t.Helper()
			if _, ok, err := db.OpenAlert(ctx, store.Alert{AgentID: a.ID, Rule: rule, Metric: "cpu.percent", Severity: "warning",
				Message: msg, OpenedAt: time.Now()}); err != nil || !ok {
				t.Fatalf("open %s on %s: %v %v", rule, a.Hostname, ok, err)
			}
		}
		open(f.alpha, "cpu", "CPU above 90 % for 5 minutes")
		open(f.bravo, "disk:/", "Disk usage on / above 90 % for 5 minutes")
		open(f.charlie, "memory", "Memory above 90 % for 5 minutes")
		open(f.echo, "offline", "Agent offline for more than 100%_ minutes")
		for _, tt := range []struct {
			q    string
			want []string
		}{
			{"BRAVO", []string{"Bravo"}},          // hostname, any case
			{"disk:", []string{"Bravo"}},          // rule
			{"memory ABOVE", []string{"charlie"}}, // message
			{"100%_", []string{"Echo"}},           // LIKE wildcards are literal
			{"%_", []string{"Echo"}},
			{"nothing", nil},
		} {
			got, n, err := db.ListAlerts(ctx, store.AlertFilter{Query: tt.q}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var hosts []string
			for _, a := range got {
				hosts = append(hosts, a.Hostname)
			}
			if !cmp.Equal(hosts, tt.want) || n != len(tt.want) {
				t.Errorf("query %q got %v (total %d), want %v", tt.q, hosts, n, tt.want)
			}
		}
		got, _, err := db.ListAlerts(ctx, store.AlertFilter{AgentID: f.bravo.ID}, store.Page{})
		if err != nil || len(got) != 1 {
			t.Fatalf("bravo's alerts %v, %v", got, err)
		}
		if got[0].ClientName != "Globex" || got[0].SiteName != "Plant" {
			t.Errorf("bravo's alert in %q / %q, want Globex / Plant", got[0].ClientName, got[0].SiteName)
		}
	})
}
