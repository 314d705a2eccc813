package store_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestUpdateChannelNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		names, err := db.UpdateChannelNames(ctx)
		if err != nil || len(names) != 0 {
			t.Fatalf("empty database: %q, %v; want none", names, err)
		}
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			for i, ch := range []string{"beta", "stable", "beta"} {
				if _, err := tx.CreateRelease(ctx, store.Release{Version: "1.0." + strconv.Itoa(i), OS: "linux", Arch: "amd64",
					Channel: ch, Size: 1, SHA256: "ab", KeyID: "k", Signature: "{}", CreatedBy: "console"}, bytes.NewReader([]byte{1})); err != nil {
					return err
				}
			}
			c, err := tx.CreateClient(ctx, "Acme")
			if err != nil {
				return err
			}
			return tx.SetUpdateChannel(ctx, store.LevelClient, c.ID, "canary")
		})
		if err != nil {
			t.Fatal(err)
		}
		names, err = db.UpdateChannelNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"beta", "canary", "stable"}, names); diff != "" {
			t.Errorf("UpdateChannelNames (-want +got):\n%s", diff)
		}
	})
}
