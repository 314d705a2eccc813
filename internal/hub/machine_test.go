package hub_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// TestRevokeClosesOnTheHoldingReplica checks that revoking an agent on one
// replica closes its connection on the replica that holds it, with the
// unauthorized close code, and leaves other agents connected.
func TestRevokeClosesOnTheHoldingReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		shared := bus.NewLocal()
		// Heartbeats longer than the test: the raw agents send none.
		holder := newReplica(t, db, options{replicaID: "holder", bus: shared, heartbeat: 10 * time.Second})
		other := newReplica(t, db, options{replicaID: "other", bus: shared, heartbeat: 10 * time.Second})
		id, secret := holder.enroll(t, "revoked")
		keptID, keptSecret := holder.enroll(t, "kept")
		a := holder.connect(t, id, secret)
		kept := holder.connect(t, keptID, keptSecret)

		if err := other.hub.Revoke(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if code := a.ReadClose(t); code != websocket.StatusCode(protocol.CloseUnauthorized) {
			t.Errorf("close code = %d, want %d", code, protocol.CloseUnauthorized)
		}
		eventually(t, "the revoked agent offline", func() bool { return !online(t, db, id) })
		kept.Sync(t)
		if !online(t, db, keptID) {
			t.Error("the other agent went offline")
		}
		// Revoking an agent nobody holds is no error.
		if err := other.hub.Revoke(t.Context(), store.NewID()); err != nil {
			t.Errorf("Revoke of an agent nobody holds: %v", err)
		}
	})
}
