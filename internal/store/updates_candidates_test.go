package store_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// TestRolloutCandidatesOfferAgain: an agent is offered a release again
// when its offer expired unanswered, when its update stalled before the
// swap (a crash undid it), or when its offer was called back; not while an
// offer or an update is under way.
func TestRolloutCandidatesOfferAgain(t *testing.T) {
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		agents := map[string]store.Agent{}
		for _, h := range []string{"fresh-offer", "old-offer", "stalled", "cancelled", "never", "downloading-now"} {
			agents[h] = mustEnroll(t, db, site.ID, protocol.Facts{Hostname: h, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		}
		var rel store.Release
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			var err error
			rel, err = tx.CreateRelease(ctx, store.Release{Version: "1.1.0", OS: "linux", Arch: "amd64", Channel: "stable", Size: 1,
				SHA256: "ab", KeyID: "k", Signature: "{}", Status: store.ReleaseActive, CreatedBy: "console"}, bytes.NewReader([]byte{1}))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		record := func(host, step string, at time.Time) {
			t.Helper()
			if err := db.WithTx(ctx, func(tx *store.Tx) error {
				_, err := tx.RecordUpdateStep(ctx, store.AgentUpdate{AgentID: agents[host].ID, ReleaseID: rel.ID, FromVersion: "1.0.0",
					ToVersion: "1.1.0", Step: step, UpdatedAt: at})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		now := clk.Now()
		old := now.Add(-25 * time.Hour)
		record("old-offer", store.UpdateOffered, old)
		record("stalled", store.UpdateOffered, old)
		record("stalled", protocol.UpdateVerified, old)
		record("cancelled", store.UpdateOffered, now)
		record("fresh-offer", store.UpdateOffered, now)
		record("downloading-now", store.UpdateOffered, now)
		record("downloading-now", protocol.UpdateDownloading, now)
		if err := db.WithTx(ctx, func(tx *store.Tx) error {
			_, err := tx.CancelOffers(ctx, rel.ID, "halted")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// CancelOffers took the fresh offers too; offer those two again.
		record("fresh-offer", store.UpdateOffered, now)
		record("downloading-now", store.UpdateOffered, now)
		record("downloading-now", protocol.UpdateDownloading, now)

		cands, err := db.RolloutCandidates(ctx, rel, now.Add(-24*time.Hour), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cands {
			for h, a := range agents {
				if a.ID == c.AgentID {
					got = append(got, h)
				}
			}
		}
		slices.Sort(got)
		if want := []string{"cancelled", "never", "old-offer", "stalled"}; !slices.Equal(got, want) {
			t.Errorf("candidates %v, want %v", got, want)
		}
	})
}
