package effective_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// The owner serves reads from one snapshot until invalidated or reloaded,
// and retention follows whatever policy is assigned at the default level
// (not only the built-in "default" policy).
func TestPolicies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		p := effective.NewPolicies(db)
		raw, rollup, err := p.Retention(ctx)
		if err != nil || raw != 7*24*time.Hour {
			t.Fatalf("Retention = %s, %s, %v; want the built-in 168h", raw, rollup, err)
		}
		first, err := p.Resolver(ctx)
		if err != nil {
			t.Fatal(err)
		}

		var long store.Policy
		if err := db.WithTx(ctx, func(tx *store.Tx) error {
			long, err = tx.CreatePolicy(ctx, store.Policy{Name: "Keep longer", Document: json.RawMessage(`{"metrics":{"retention":{"raw":"240h"}}}`)})
			if err != nil {
				return err
			}
			return tx.Assign(ctx, store.PolicyAssignment{Level: store.LevelDefault, PolicyID: long.ID, AssignedBy: "test"})
		}); err != nil {
			t.Fatal(err)
		}
		if again, _ := p.Resolver(ctx); again != first {
			t.Error("Resolver read a new snapshot without an invalidation")
		}
		p.Invalidate()
		if raw, _, err := p.Retention(ctx); err != nil || raw != 240*time.Hour {
			t.Errorf("Retention after assigning %q at the default level = %s, %v; want 240h", long.Name, raw, err)
		}
		before, _ := p.Resolver(ctx)
		reloaded, err := p.Reload(ctx)
		if err != nil || reloaded == before {
			t.Errorf("Reload = %p, %v; want a new snapshot", reloaded, err)
		}
		if _, err := p.At(ctx, "galaxy", ""); err == nil {
			t.Error("At(galaxy): no error")
		}
	})
}
