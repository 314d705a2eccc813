package selection_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/selection"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// TestResolve: a site of more agents than one list page resolves whole;
// the bound, the agent IDs and the uninstalled agents are kept to.
func TestResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var site store.Site
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			c, err := tx.CreateClient(ctx, "Acme")
			if err != nil {
				return err
			}
			site, err = tx.CreateSite(ctx, c.ID, "HQ")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		const n = 620 // more than a page of 500
		hash := "hash-" + store.NewID()
		if _, err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{SiteID: site.ID, Prefix: "ste_test", CreatedBy: "test",
			ExpiresAt: time.Now().Add(time.Hour), MaxUses: n}, hash); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range n {
			a, err := db.Enroll(ctx, hash, store.NewAgent{SecretHash: fmt.Sprint("s", i), IP: "198.51.100.1",
				Facts: protocol.Facts{Hostname: fmt.Sprintf("host-%03d", i), OS: "linux"}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		if err := db.WithTx(ctx, func(tx *store.Tx) error {
			_, err := tx.MarkUninstalled(ctx, ids[0], "test")
			return err
		}); err != nil {
			t.Fatal(err)
		}

		got, err := selection.Resolve(ctx, db, selection.Selection{SiteID: site.ID}, 10000)
		if err != nil || len(got.Agents) != n-1 || got.Target != "site "+site.ID {
			t.Fatalf("site: %d agents, %q, %v; want %d", len(got.Agents), got.Target, err, n-1)
		}
		if _, err := selection.Resolve(ctx, db, selection.Selection{SiteID: site.ID}, 100); !isInput(err) {
			t.Errorf("over the bound: %v, want an input error", err)
		}
		got, err = selection.Resolve(ctx, db, selection.Selection{AgentIDs: []string{ids[0], ids[1], ids[1]}}, 10)
		if err != nil || len(got.Agents) != 1 || got.Uninstalled != 1 {
			t.Errorf("by ID: %d agents, %d uninstalled, %v; want 1 and 1", len(got.Agents), got.Uninstalled, err)
		}
		for _, bad := range []selection.Selection{{}, {AgentIDs: []string{"nope"}}, {SiteID: site.ID, ClientID: "x"}, {ClientID: "none"}} {
			if _, err := selection.Resolve(ctx, db, bad, 10); !isInput(err) {
				t.Errorf("%+v: %v, want an input error", bad, err)
			}
		}
	})
}

func isInput(err error) bool {
	var ie *input.Error
	return errors.As(err, &ie)
}
