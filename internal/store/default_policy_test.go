package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// TestDefaultPolicyTimes checks the default policy and its assignment
// carry the time the schema was made, not zero.
func TestDefaultPolicyTimes(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := context.Background()
		pol, err := db.Policy(ctx, store.DefaultPolicyID)
		if err != nil {
			t.Fatal(err)
		}
		if pol.CreatedAt.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) || pol.UpdatedAt.Before(pol.CreatedAt) {
			t.Errorf("default policy created %v, updated %v; want the schema's creation time", pol.CreatedAt, pol.UpdatedAt)
		}
		as, err := db.ListAssignments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Level == store.LevelDefault && !a.AssignedAt.Equal(pol.CreatedAt) {
				t.Errorf("default assignment at %v, want %v", a.AssignedAt, pol.CreatedAt)
			}
		}
	})
}
