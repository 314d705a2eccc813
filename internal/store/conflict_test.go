package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// A presence flush that deadlocks with another transaction touching the
// same agents (on PostgreSQL, a presence batch marking one offline) is run
// again: losing the deadlock is no failure of the replica's writes, which
// /readyz would otherwise report for a heartbeat.
func TestAssertPresenceSurvivesDeadlock(t *testing.T) {
	url := storetest.NewPostgresDatabase(t)
	db := storetest.Open(t, store.Options{URL: url})
	ctx := t.Context()
	site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
	a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
	b := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "b"})
	held := []store.Held{{AgentID: a.ID, ConnID: connect(t, db, a, "r1")}, {AgentID: b.ID, ConnID: connect(t, db, b, "r1")}}

	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The other transaction holds b; the flush takes a, then waits for b.
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET hostname = hostname WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() {
		_, err := db.AssertPresence(context.WithoutCancel(ctx), held)
		flushed <- err
	}()
	waitForLockWait(t, other)
	// Now the other transaction wants a: a deadlock, which PostgreSQL
	// breaks by aborting the flush, the first to wait.
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET hostname = hostname WHERE id = $1`, a.ID); err != nil {
		t.Logf("the other transaction lost the deadlock: %v", err)
		tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-flushed:
		if err != nil {
			t.Errorf("AssertPresence after a deadlock = %v, want it run again and nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("AssertPresence did not return")
	}
}

// waitForLockWait waits until some session of the database waits for a
// row lock.
func waitForLockWait(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush never waited for the other transaction's lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
