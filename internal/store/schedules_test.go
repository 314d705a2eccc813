package store_test

import (
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Agents reporting one occurrence at once share one job, and each has one
// run in it however often it reports.
func TestScheduleJobRace(t *testing.T) {
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		const n = 8
		agents := make([]store.Agent, n)
		for i := range agents {
			agents[i] = mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "h" + itoa(i), OS: "linux"})
		}
		key := store.ScheduleKey{Schedule: "nightly", ScriptID: "s1", Occurrence: "2026-05-01T02:30:00"}
		now := clk.Now()
		jobIDs := make([]string, 2*n)
		errs := race(2*n, func(i int) error {
			a := agents[i%n]
			return db.WithTx(ctx, func(tx *store.Tx) error {
				j := store.Job{ID: store.NewID(), ScriptID: "s1", Name: "Nightly", Language: "sh", Body: "true", Target: "schedule nightly",
					CreatedBy: "schedule nightly", CreatedAt: now, StartBy: now.Add(time.Hour), Timeout: time.Minute}
				job, _, err := tx.ScheduleJob(ctx, key, j)
				if err != nil {
					return err
				}
				jobIDs[i] = job.ID
				_, _, err = tx.AddScheduleRun(ctx, job.ID, store.Command{ID: store.NewID(), AgentID: a.ID, Name: protocol.CommandScript,
					Args: []byte(`{}`), State: store.CommandQueued, CreatedBy: "schedule nightly", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
				return err
			})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("report %d: %v", i, err)
			}
			if jobIDs[i] != jobIDs[0] {
				t.Fatalf("report %d got job %s, want the one job %s", i, jobIDs[i], jobIDs[0])
			}
		}
		job, err := db.GetJob(ctx, jobIDs[0])
		if err != nil || job.Agents != n {
			t.Fatalf("job %+v (%v): want %d agents", job, err, n)
		}
		runs, total, err := db.JobRuns(ctx, job.ID, store.Page{Limit: 100})
		if err != nil || total != n || len(runs) != n {
			t.Fatalf("runs: %d of %d (%v), want %d", len(runs), total, err, n)
		}
		if b := mustBatch(t, db, job.ID); b.Agents != n {
			t.Errorf("batch counts %d agents, want %d", b.Agents, n)
		}

		// Recorded finished, then joined by an agent hours later: open
		// again, to be recorded once more.
		mark := func() bool {
			var first bool
			if err := db.WithTx(ctx, func(tx *store.Tx) (err error) {
				first, err = tx.MarkJobFinished(ctx, job.ID, now)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return first
		}
		if !mark() || mark() {
			t.Fatal("MarkJobFinished: want true once, then false")
		}
		late := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "late", OS: "linux"})
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.AddScheduleRun(ctx, job.ID, store.Command{ID: store.NewID(), AgentID: late.ID, Name: protocol.CommandScript,
				Args: []byte(`{}`), State: store.CommandQueued, CreatedBy: "schedule nightly", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !mark() {
			t.Error("a finished job joined by another agent is not open again")
		}
	})
}
