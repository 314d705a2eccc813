package hub_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for a lock from outside the store

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestIntervals(t *testing.T) {
	h := hub.New(nil, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), hub.Options{Heartbeat: 7 * time.Second})
	if got := h.Heartbeat(); got != 7*time.Second {
		t.Errorf("Heartbeat() = %v, want 7s", got)
	}
	if got, want := h.OfflineAfter(), hub.MissedHeartbeats*7*time.Second; got != want {
		t.Errorf("OfflineAfter() = %v, want %v", got, want)
	}
	if n := h.Connected(); n != 0 {
		t.Errorf("Connected() of a new hub = %d, want 0", n)
	}
	if _, ok := h.Lookup("nobody"); ok {
		t.Error("Lookup on a new hub found a connection")
	}
}

func TestHub(t *testing.T) {
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s to run it", storetest.EnvPostgresURL)
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			opts := b.Options(t)
			db := storetest.Open(t, opts)
			// A second handle on the same database whose clock is an hour
			// behind, to leave rows that look like a dead replica's.
			past := opts
			past.Now = func() time.Time { return time.Now().Add(-time.Hour) }
			pastDB := storetest.Open(t, past)

			t.Run("Replaced", func(t *testing.T) { testReplaced(t, db) })
			t.Run("Disconnect", func(t *testing.T) { testDisconnect(t, db) })
			t.Run("Silent", func(t *testing.T) { testSilent(t, db) })
			t.Run("Shutdown", func(t *testing.T) { testShutdown(t, db) })
			t.Run("StaleReplica", func(t *testing.T) { testStaleReplica(t, db, pastDB) })
			t.Run("Restored", func(t *testing.T) { testRestored(t, db) })
			t.Run("Metrics", func(t *testing.T) { testMetrics(t, db) })
			t.Run("PolicyAck", func(t *testing.T) { testPolicyAck(t, db) })
			if b.Name == "postgres" {
				t.Run("HungDatabase", func(t *testing.T) { testHungDatabase(t, db, opts.URL) })
			}
		})
	}
}

func testReplaced(t *testing.T, db *store.DB) {
	r := newReplica(t, db, options{heartbeat: time.Second})
	id, secret := r.enroll(t, "twice")
	older := r.connect(t, id, secret)
	newer := r.connect(t, id, secret)

	if code := older.ReadClose(t); code != protocol.CloseReplaced {
		t.Errorf("older connection closed with %d, want %d (CloseReplaced)", code, protocol.CloseReplaced)
	}
	// Wait until the older connection's server side has fully cleaned up:
	// its cleanup must not mark the agent offline.
	eventually(t, "the older connection's serve loop to return", func() bool { return r.hub.Active() == 1 })
	if !online(t, db, id) {
		t.Error("agent is offline after the older connection was replaced, want online")
	}
	want := []bus.PresenceEvent{{AgentID: id, ClientID: r.site.ClientID, Online: true}, {AgentID: id, ClientID: r.site.ClientID, Online: true}}
	if diff := cmp.Diff(want, r.events.of(id)); diff != "" {
		t.Errorf("presence events (-want +got):\n%s", diff)
	}
	if n := r.hub.Connected(); n != 1 {
		t.Errorf("Connected() = %d, want 1", n)
	}
	if got := metric(t, r.reg, "steward_agents_connected", nil); got != 1 {
		t.Errorf("steward_agents_connected = %v, want 1", got)
	}
	newer.Heartbeat(t, "still-here")

	// When the newer one goes, the agent goes offline.
	newer.Conn().Close(websocket.StatusNormalClosure, "bye")
	eventually(t, "the agent to go offline", func() bool { return !online(t, db, id) })
	eventually(t, "an offline presence event", func() bool { return len(r.events.of(id)) == 3 })
	if last := r.events.of(id)[2]; last.Online {
		t.Errorf("last presence event = %+v, want offline", last)
	}
	if got := metric(t, r.reg, "steward_agents_connected", nil); got != 0 {
		t.Errorf("steward_agents_connected = %v, want 0", got)
	}
}

func testDisconnect(t *testing.T, db *store.DB) {
	// A long heartbeat: offline must come from the closed socket, not from
	// the 30-second silence timeout.
	r := newReplica(t, db, options{heartbeat: 10 * time.Second})
	tests := []struct {
		name  string
		close func(a *servertest.Agent)
	}{
		{"close handshake", func(a *servertest.Agent) { a.Conn().Close(websocket.StatusNormalClosure, "") }},
		{"dropped connection", func(a *servertest.Agent) { a.Conn().CloseNow() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, secret := r.enroll(t, "leaver")
			a := r.connect(t, id, secret)
			if !online(t, db, id) {
				t.Fatal("agent not online after welcome")
			}
			tt.close(a)
			// eventually gives up after wait, well inside the silence
			// timeout: offline here comes from the closed socket.
			eventually(t, "the agent to go offline", func() bool { return !online(t, db, id) })
			eventually(t, "an offline presence event", func() bool { return len(r.events.of(id)) == 2 })
			if got, want := r.events.of(id)[1], (bus.PresenceEvent{AgentID: id, ClientID: r.site.ClientID}); got != want {
				t.Errorf("presence event = %+v, want %+v", got, want)
			}
			eventually(t, "the hub to forget the agent", func() bool { _, ok := r.hub.Lookup(id); return !ok })
		})
	}
}

func testSilent(t *testing.T, db *store.DB) {
	const heartbeat = 200 * time.Millisecond
	r := newReplica(t, db, options{heartbeat: heartbeat})

	t.Run("heartbeats keep the connection", func(t *testing.T) {
		id, secret := r.enroll(t, "talker")
		a := r.connect(t, id, secret)
		// Keep talking for twice the offline window, each heartbeat right
		// after the answer to the last: no pause of the test's own can
		// pass for silence.
		for end := time.Now().Add(2 * hub.MissedHeartbeats * heartbeat); time.Now().Before(end); {
			a.Heartbeat(t, "hb")
		}
		if !online(t, db, id) {
			t.Error("agent that kept sending heartbeats is offline")
		}
	})

	t.Run("silence closes", func(t *testing.T) {
		id, secret := r.enroll(t, "mute")
		a := r.connect(t, id, secret)
		start := time.Now()
		a.ReadClose(t)
		elapsed := time.Since(start)
		// A loaded machine only makes this later; readClose bounds it.
		if min := hub.MissedHeartbeats*heartbeat - 100*time.Millisecond; elapsed < min {
			t.Errorf("server closed a silent connection after %v, want at least %v", elapsed, min)
		}
		eventually(t, "the agent to go offline", func() bool { return !online(t, db, id) })
	})
}

func testShutdown(t *testing.T, db *store.DB) {
	r := newReplica(t, db, options{heartbeat: time.Second, replicaID: "r-shutdown"})
	id1, secret1 := r.enroll(t, "one")
	id2, secret2 := r.enroll(t, "two")
	a1, a2 := r.connect(t, id1, secret1), r.connect(t, id2, secret2)
	// An agent this replica recorded but no longer serves, as after a
	// connection whose cleanup failed.
	id3, _ := r.enroll(t, "orphan")
	if err := db.MarkConnected(t.Context(), store.Connection{AgentID: id3, ConnID: store.NewID(), ReplicaID: "r-shutdown", Facts: facts("orphan")}); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		r.hub.Shutdown()
	}()
	for i, a := range []*servertest.Agent{a1, a2} {
		if code := a.ReadClose(t); code != protocol.CloseShutdown {
			t.Errorf("agent %d closed with %d, want %d (CloseShutdown)", i+1, code, protocol.CloseShutdown)
		}
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Shutdown did not return")
	}

	// Shutdown waits for the serve loops, so everything is settled now.
	for _, id := range []string{id1, id2, id3} {
		if online(t, db, id) {
			t.Errorf("agent %s still online after Shutdown", id)
		}
	}
	for _, id := range []string{id1, id2} {
		ev := r.events.of(id)
		if len(ev) != 2 || ev[1].Online {
			t.Errorf("presence events of %s = %+v, want online then offline", id, ev)
		}
	}
	if n := r.hub.Connected(); n != 0 {
		t.Errorf("Connected() after Shutdown = %d, want 0", n)
	}
	if got := metric(t, r.reg, "steward_agents_connected", nil); got != 0 {
		t.Errorf("steward_agents_connected after Shutdown = %v, want 0", got)
	}

	t.Run("connections after shutdown", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		url := "ws" + strings.TrimPrefix(r.srv.URL, "http") + protocol.ConnectPath
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {protocol.FormatCredential(id1, secret1)}},
		})
		if err != nil {
			return // refusing the handshake is fine too
		}
		defer ws.CloseNow()
		b, _ := protocol.Encode(protocol.TypeHello, "", facts("late"))
		ws.Write(ctx, websocket.MessageText, b) // may fail if already closed
		for err == nil {
			_, _, err = ws.Read(ctx) // until the server closes
		}
		if code := websocket.CloseStatus(err); code != protocol.CloseShutdown {
			t.Errorf("connection after Shutdown closed with %d, want %d (CloseShutdown)", code, protocol.CloseShutdown)
		}
		if online(t, db, id1) {
			t.Error("agent online after connecting to a shut-down hub")
		}
	})
}

func testStaleReplica(t *testing.T, db, pastDB *store.DB) {
	// The test drives the hub's flush and the sweep itself, one after the
	// other, so the live agent's freshness never depends on how fast a
	// loaded machine runs a ticker; the offline window (three heartbeats)
	// only has to outlast the gap between two calls.
	const heartbeat = time.Second
	r := newReplica(t, db, options{heartbeat: heartbeat, noRun: true})

	// An agent held by a replica that died an hour ago without cleaning up.
	staleID, _ := r.enroll(t, "stale")
	if err := pastDB.MarkConnected(t.Context(), store.Connection{
		AgentID: staleID, ConnID: store.NewID(), ReplicaID: "dead-replica", Facts: facts("stale"),
	}); err != nil {
		t.Fatal(err)
	}
	if !online(t, db, staleID) {
		t.Fatal("stale agent not online before the sweep")
	}
	// An agent this replica holds and keeps fresh.
	liveID, liveSecret := r.enroll(t, "live")
	live := r.connect(t, liveID, liveSecret)
	connectedAt, err := db.Agent(t.Context(), liveID)
	if err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	sweep := func() {
		t.Helper()
		if err := r.hub.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if err := r.hub.Sweep(ctx); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
	}
	sweep()
	if online(t, db, staleID) {
		t.Error("the stale agent is still online after a sweep")
	}
	eventually(t, "an offline presence event", func() bool { return len(r.events.of(staleID)) == 1 })
	if got, want := r.events.of(staleID)[0], (bus.PresenceEvent{AgentID: staleID, Online: false}); got != want {
		t.Errorf("presence event = %+v, want %+v", got, want)
	}

	// Across several sweeps spanning more than the offline window, the
	// live agent stays online: the hub's flush keeps its last_seen within
	// the window although heartbeats do not write to the database.
	for end := time.Now().Add(hub.MissedHeartbeats*heartbeat + heartbeat); time.Now().Before(end); {
		live.Heartbeat(t, "hb")
		sweep()
	}
	after, err := db.Agent(t.Context(), liveID)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Online {
		t.Error("live agent was marked offline by the stale sweep")
	}
	if !after.LastSeen.After(connectedAt.LastSeen) {
		t.Errorf("live agent last_seen = %v, want it flushed after %v", after.LastSeen, connectedAt.LastSeen)
	}
	if ev := r.events.of(liveID); len(ev) != 1 {
		t.Errorf("presence events of the live agent = %+v, want only online", ev)
	}
}

func testMetrics(t *testing.T, db *store.DB) {
	r := newReplica(t, db, options{heartbeat: time.Second})
	if got := metric(t, r.reg, "steward_agents_connected", nil); got != 0 {
		t.Errorf("steward_agents_connected before any connection = %v, want 0", got)
	}
	id1, secret1 := r.enroll(t, "m1")
	id2, secret2 := r.enroll(t, "m2")
	a1 := r.connect(t, id1, secret1)
	a2 := r.connect(t, id2, secret2)
	a1.Heartbeat(t, "hb")
	a1.Send(t, "bogus", "b-1", nil)
	if env := a1.Next(t); env.Type != protocol.TypeError {
		t.Fatalf("answer to an unknown type = %s, want error", env.Type)
	}

	// A failed authentication.
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	url := "ws" + strings.TrimPrefix(r.srv.URL, "http") + protocol.ConnectPath
	if ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {protocol.FormatCredential(id1, auth.NewSecret(""))}},
	}); err == nil {
		ws.CloseNow()
		t.Fatal("dial with a wrong secret succeeded")
	}

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"steward_agents_connected", nil, 2},
		{"steward_agent_connects_total", nil, 2},
		{"steward_agent_messages_total", map[string]string{"direction": "in", "type": "hello"}, 2},
		{"steward_agent_messages_total", map[string]string{"direction": "out", "type": "welcome"}, 2},
		{"steward_agent_messages_total", map[string]string{"direction": "in", "type": "heartbeat"}, 1},
		{"steward_agent_messages_total", map[string]string{"direction": "out", "type": "heartbeat"}, 1},
		{"steward_agent_messages_total", map[string]string{"direction": "in", "type": "bogus"}, 1},
		{"steward_agent_messages_total", map[string]string{"direction": "out", "type": "error"}, 1},
		{"steward_agent_rejected_total", map[string]string{"reason": "unknown_type"}, 1},
		{"steward_agent_rejected_total", map[string]string{"reason": "auth"}, 1},
	}
	for _, tt := range tests {
		// Outgoing messages are counted after the write returns, which
		// can be after the agent has read them: poll.
		eventually(t, fmt.Sprintf("%s%v to be %v", tt.name, tt.labels, tt.want), func() bool {
			return metric(t, r.reg, tt.name, tt.labels) == tt.want
		})
	}

	a2.Conn().CloseNow()
	eventually(t, "steward_agents_connected to drop to 1", func() bool {
		return metric(t, r.reg, "steward_agents_connected", nil) == 1
	})
	if got := metric(t, r.reg, "steward_agent_connects_total", nil); got != 2 {
		t.Errorf("steward_agent_connects_total after a disconnect = %v, want 2 (a counter)", got)
	}
}

// fixedPolicy gives every agent the same policy revision.
type fixedPolicy struct{ revision string }

func (p fixedPolicy) Welcomed(context.Context, *hub.Conn, string) {}

func (p fixedPolicy) Effective(context.Context, *hub.Conn) (*protocol.PolicyUpdate, error) {
	return &protocol.PolicyUpdate{Revision: p.revision, Policy: []byte(`{}`)}, nil
}

func testPolicyAck(t *testing.T, db *store.DB) {
	r := newReplica(t, db, options{heartbeat: 10 * time.Second})
	r.hub.SetPolicyHandler(fixedPolicy{"rev-1"})
	id, secret := r.enroll(t, "acker")
	stored := func(t *testing.T) store.Agent {
		t.Helper()
		a, err := db.Agent(t.Context(), id)
		if err != nil {
			t.Fatalf("Agent: %v", err)
		}
		return a
	}
	// ack sends an acknowledgement and waits until the server handled it:
	// messages of one connection are handled in order.
	ack := func(t *testing.T, a *servertest.Agent, revision string) {
		t.Helper()
		a.Send(t, protocol.TypePolicyAck, "", protocol.PolicyAck{Revision: revision})
		a.Heartbeat(t, "after-ack")
	}

	first := r.connect(t, id, secret)
	ack(t, first, "rev-1")
	got := stored(t)
	if got.PolicyRevision != "rev-1" || got.PolicyAppliedAt.IsZero() {
		t.Fatalf("after the first ack: revision %q applied at %v, want rev-1 with a time", got.PolicyRevision, got.PolicyAppliedAt)
	}
	applied := got.PolicyAppliedAt
	first.Conn().Close(websocket.StatusNormalClosure, "")
	eventually(t, "the agent to go offline", func() bool { return !online(t, db, id) })
	// Stored times have millisecond precision: a rewrite must be able to
	// store a later one.
	eventually(t, "the clock to pass the stored time", func() bool { return time.Since(applied) > time.Millisecond })

	// Reconnecting on the same policy acknowledges what is stored: no write.
	again := r.connect(t, id, secret)
	ack(t, again, "rev-1")
	if got := stored(t); got.PolicyRevision != "rev-1" || !got.PolicyAppliedAt.Equal(applied) {
		t.Errorf("after acking the stored revision again: revision %q applied at %v, want rev-1 still applied at %v",
			got.PolicyRevision, got.PolicyAppliedAt, applied)
	}
	// Any other revision is stored.
	ack(t, again, "rev-2")
	if got := stored(t); got.PolicyRevision != "rev-2" {
		t.Errorf("after acking rev-2: revision %q, want rev-2", got.PolicyRevision)
	}
	// A change undone: the welcome's revision again is stored again.
	ack(t, again, "rev-1")
	if got := stored(t); got.PolicyRevision != "rev-1" {
		t.Errorf("after acking rev-1 again: revision %q, want rev-1", got.PolicyRevision)
	}
}

// testRestored is a replica that could not write for longer than the
// offline window: another replica's sweep marked its agents offline,
// though they stayed connected. Its next flush marks them online again
// and says so on the bus; an agent it no longer holds stays offline.
func testRestored(t *testing.T, db *store.DB) {
	r := newReplica(t, db, options{heartbeat: time.Minute, noRun: true})
	ctx := t.Context()
	heldID, heldSecret := r.enroll(t, "held")
	r.connect(t, heldID, heldSecret)
	goneID, goneSecret := r.enroll(t, "gone")
	gone := r.connect(t, goneID, goneSecret)
	gone.Conn().Close(websocket.StatusNormalClosure, "bye")
	eventually(t, "the departed agent marked offline", func() bool { return !online(t, db, goneID) })

	// The sweep, as another replica runs it once this one's last_seen
	// went stale.
	if _, err := db.MarkStaleOffline(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if online(t, db, heldID) {
		t.Fatal("held agent still online after the sweep")
	}
	if err := r.hub.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if !online(t, db, heldID) {
		t.Error("held agent offline after Flush, want online")
	}
	if online(t, db, goneID) {
		t.Error("departed agent online after Flush, want offline")
	}
	events := r.events.of(heldID)
	if want := (bus.PresenceEvent{AgentID: heldID, ClientID: r.site.ClientID, Online: true}); len(events) != 2 || events[1] != want {
		t.Errorf("presence events of the held agent = %+v, want the connect and then %+v", events, want)
	}
	if err := r.hub.PresenceErr(); err != nil {
		t.Errorf("PresenceErr() after a good flush = %v, want nil", err)
	}
	if got := metric(t, r.reg, "steward_presence_restored_total", nil); got != 1 {
		t.Errorf("steward_presence_restored_total = %v, want 1", got)
	}
}

// testHungDatabase holds a lock every presence statement waits for, as a
// database that stops answering: the offline mark of an agent that leaves
// gives up after the flush bound (not never) and waits to be written
// again, /readyz's signal says writes fail, and once the database answers
// again the next flush writes the mark and clears the signal.
func testHungDatabase(t *testing.T, db *store.DB, url string) {
	r := newReplica(t, db, options{heartbeat: 200 * time.Millisecond})
	id, secret := r.enroll(t, "leaves")
	a := r.connect(t, id, secret)
	eventually(t, "the agent online", func() bool { return online(t, db, id) })

	locker, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), "LOCK TABLE agents IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("lock agents: %v", err)
	}

	a.Conn().Close(websocket.StatusNormalClosure, "bye")
	eventually(t, "the offline mark to give up and wait to be written again", func() bool {
		return metric(t, r.reg, "steward_presence_offline_pending", nil) == 1
	})
	if err := r.hub.PresenceErr(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PresenceErr() while the database hangs = %v, want a deadline error", err)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the offline mark written once the database answers", func() bool {
		return metric(t, r.reg, "steward_presence_offline_pending", nil) == 0 && r.hub.PresenceErr() == nil
	})
	if online(t, db, id) {
		t.Error("agent still online after the database answered again")
	}
}
