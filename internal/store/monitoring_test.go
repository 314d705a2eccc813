package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
)

func TestUnresolvedAlertCounts(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := context.Background()
		f := newFleet(t, db, clk)
		open := func(a store.Agent, rule, sev string) store.Alert {
			t.Helper()
			al, ok, err := db.OpenAlert(ctx, store.Alert{AgentID: a.ID, Rule: rule, Metric: "cpu.percent", Severity: sev, OpenedAt: time.Now()})
			if err != nil || !ok {
				t.Fatalf("open %s on %s: ok %v, err %v", rule, a.Hostname, ok, err)
			}
			return al
		}
		open(f.alpha, "cpu", "critical")
		open(f.alpha, "memory", "warning")
		open(f.echo, "cpu", "warning")
		open(f.charlie, "cpu", "warning")
		acked := open(f.bravo, "cpu", "info")
		if _, _, err := db.AcknowledgeAlert(ctx, acked.ID, "tester"); err != nil {
			t.Fatal(err)
		}
		gone := open(f.delta, "cpu", "critical")
		if _, _, err := db.ResolveAlert(ctx, gone.ID, "tester"); err != nil {
			t.Fatal(err)
		}

		byClient, err := db.UnresolvedAlertCounts(ctx, store.LevelClient)
		if err != nil {
			t.Fatal(err)
		}
		wantClient := map[string]store.AlertCounts{
			f.acme.ID:   {"critical": 1, "warning": 3},
			f.globex.ID: {"info": 1}, // acknowledged still counts; resolved does not
		}
		if d := cmp.Diff(wantClient, byClient); d != "" {
			t.Errorf("counts by client (-want +got):\n%s", d)
		}
		bySite, err := db.UnresolvedAlertCounts(ctx, store.LevelSite)
		if err != nil {
			t.Fatal(err)
		}
		wantSite := map[string]store.AlertCounts{
			f.hq.ID:     {"critical": 1, "warning": 2},
			f.branch.ID: {"warning": 1},
			f.plant.ID:  {"info": 1},
		}
		if d := cmp.Diff(wantSite, bySite); d != "" {
			t.Errorf("counts by site (-want +got):\n%s", d)
		}
		if got := bySite[f.hq.ID].Total(); got != 3 {
			t.Errorf("HQ total %d, want 3", got)
		}
		if _, err := db.UnresolvedAlertCounts(ctx, "agent"); err == nil {
			t.Error("counts by agent: no error, want one")
		}
	})
}

func TestAgentRevisions(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := context.Background()
		f := newFleet(t, db, clk)
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			return tx.SetPolicyRevision(ctx, f.charlie.ID, "abc123")
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.AgentRevisions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.AgentRevision{
			{ID: f.alpha.ID, Hostname: "alpha", ClientID: f.acme.ID, SiteID: f.hq.ID},
			{ID: f.bravo.ID, Hostname: "Bravo", ClientID: f.globex.ID, SiteID: f.plant.ID},
			{ID: f.charlie.ID, Hostname: "charlie", ClientID: f.acme.ID, SiteID: f.branch.ID, PolicyRevision: "abc123"},
			{ID: f.delta.ID, Hostname: "delta", ClientID: f.globex.ID, SiteID: f.plant.ID},
			{ID: f.echo.ID, Hostname: "Echo", ClientID: f.acme.ID, SiteID: f.hq.ID},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("AgentRevisions (-want +got):\n%s", d)
		}
	})
}
