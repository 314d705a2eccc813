package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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

		// Grouped: charlie apart by revision, delta apart by its own policy.
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			p, err := tx.CreatePolicy(ctx, store.Policy{Name: "Own", Document: []byte(`{}`)})
			if err != nil {
				return err
			}
			return tx.Assign(ctx, store.PolicyAssignment{Level: store.LevelAgent, TargetID: f.delta.ID, PolicyID: p.ID, AssignedBy: "test"})
		})
		if err != nil {
			t.Fatalf("assign a policy to delta: %v", err)
		}
		counts, err := db.AgentRevisionCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := []store.RevisionCount{
			{ClientID: f.acme.ID, SiteID: f.hq.ID, N: 2},
			{ClientID: f.acme.ID, SiteID: f.branch.ID, PolicyRevision: "abc123", N: 1},
			{ClientID: f.globex.ID, SiteID: f.plant.ID, N: 1},
			{ClientID: f.globex.ID, SiteID: f.plant.ID, AgentID: f.delta.ID, N: 1},
		}
		sortCounts := cmpopts.SortSlices(func(a, b store.RevisionCount) bool {
			return a.ClientID+a.SiteID+a.AgentID+a.PolicyRevision < b.ClientID+b.SiteID+b.AgentID+b.PolicyRevision
		})
		if d := cmp.Diff(wantCounts, counts, sortCounts); d != "" {
			t.Errorf("AgentRevisionCounts (-want +got):\n%s", d)
		}
	})
}
