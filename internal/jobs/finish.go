package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of the finish sweep.
const (
	// finishBatch bounds the jobs one sweep records.
	finishBatch = 200
	// finishWithin is how old a job the sweep still looks at: its longest
	// expiry, its longest timeout and the result's grace, and a day.
	finishWithin = MaxExpiry + 24*time.Hour + resultGrace + 24*time.Hour
)

// FinishJobs is the singleton job that records each job's outcome in the
// audit log once its last run ended: `job.finished` with the runs counted
// by status, beside the `job.run` that started it. Each run's own result
// stays on the job (and the agent's runs).
func (s *Service) FinishJobs(ctx context.Context) error {
	now := time.Now()
	jobs, err := s.db.JobsToFinish(ctx, now.Add(-finishWithin), now, finishBatch)
	if err != nil {
		return err
	}
	for _, job := range jobs {
		p, err := s.Progress(ctx, job)
		if err != nil {
			return err
		}
		if p.Finished < p.Total {
			continue // a run still waits or runs (a queue the view counts otherwise)
		}
		detail := map[string]string{"name": job.Name, "agents": fmt.Sprint(p.Total), "failed": fmt.Sprint(p.Failed)}
		for st, n := range p.ByStatus {
			if n > 0 {
				detail[st] = fmt.Sprint(n)
			}
		}
		err = s.db.WithTx(ctx, func(tx *store.Tx) error {
			first, err := tx.MarkJobFinished(ctx, job.ID, now)
			if err != nil || !first {
				return err
			}
			return tx.AddAudit(ctx, access.System("job "+job.ID).Audit("job.finished", "job", job.ID, detail))
		})
		if err != nil {
			return err
		}
	}
	return nil
}
