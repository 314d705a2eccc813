package hub_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// TestSweepOnTheClock runs the offline sweep on a synctest clock, where
// "OfflineAfter since last seen" is exact: an agent last seen exactly that
// long ago stays online, one a millisecond older is marked offline with a
// presence event, and one seen since is left alone.
func TestSweepOnTheClock(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		events := &presence{}
		b := bus.NewLocal()
		if _, err := b.Subscribe(bus.SubjectPresence, events.record); err != nil {
			t.Fatal(err)
		}
		h := hub.New(db, b, slog.New(slog.NewTextHandler(io.Discard, nil)), hub.Options{ReplicaID: "r1", Heartbeat: time.Second})
		enroll := enroller(t, db)
		// Recorded as held by a replica that died: nobody refreshes them.
		connect := func(id string) {
			t.Helper()
			if err := db.MarkConnected(t.Context(), store.Connection{AgentID: id, ConnID: store.NewID(), ReplicaID: "dead-replica", Facts: facts(id)}); err != nil {
				t.Fatalf("MarkConnected(%s): %v", id, err)
			}
		}
		stale, fresh := enroll("stale"), enroll("fresh")
		connect(stale)
		time.Sleep(time.Second)
		connect(fresh)

		time.Sleep(h.OfflineAfter() - time.Second) // stale was seen exactly OfflineAfter ago
		if err := h.Sweep(t.Context()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if !online(t, db, stale) || len(events.of(stale)) != 0 {
			t.Errorf("agent seen exactly %v ago: online %v, events %+v; want online, none", h.OfflineAfter(), online(t, db, stale), events.of(stale))
		}

		time.Sleep(time.Millisecond)
		if err := h.Sweep(t.Context()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if online(t, db, stale) {
			t.Errorf("agent seen %v ago still online after the sweep", h.OfflineAfter()+time.Millisecond)
		}
		if diff := cmp.Diff([]bus.PresenceEvent{{AgentID: stale}}, events.of(stale)); diff != "" {
			t.Errorf("presence events of the stale agent (-want +got):\n%s", diff)
		}
		if !online(t, db, fresh) || len(events.of(fresh)) != 0 {
			t.Errorf("agent seen %v ago: online %v, events %+v; want online, none", h.OfflineAfter()-time.Second, online(t, db, fresh), events.of(fresh))
		}
	})
}

// enroller returns a function that enrolls agents in a new site without
// an HTTP server, which a synctest bubble could not wait for.
func enroller(t *testing.T, db *store.DB) func(hostname string) string {
	t.Helper()
	svc := manage.New(db)
	c, err := svc.CreateClient(t.Context(), access.Console(), "Sweep")
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	site, err := svc.CreateSite(t.Context(), access.Console(), c.ID, "Site")
	if err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	tok, _, err := svc.CreateEnrollmentToken(t.Context(), access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return func(hostname string) string {
		t.Helper()
		a, err := db.Enroll(t.Context(), auth.HashSecret(tok), store.NewAgent{
			SecretHash: auth.HashSecret(auth.NewSecret("")), Facts: facts(hostname), IP: "192.0.2.1",
		})
		if err != nil {
			t.Fatalf("Enroll(%s): %v", hostname, err)
		}
		return a.ID
	}
}
