package store

import (
	"context"
	"fmt"
	"time"
)

// JobsToFinish returns jobs not yet recorded finished, created after
// since, that no run holds open any more: none delivered and unanswered,
// and none queued unless the job's start-by time has passed (such a run
// shows expired). At most limit, oldest first.
func (db *DB) JobsToFinish(ctx context.Context, since, now time.Time, limit int) ([]Job, error) {
	// commands_batch (batch_id, state) answers each EXISTS: a job's ID is
	// its command batch's.
	return queryAll(ctx, db.sql, "list jobs to finish", scanJob, `SELECT `+jobColumns+` FROM jobs j
		WHERE j.finished_at IS NULL AND j.created_at > $1
		AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.batch_id = j.id AND c.state = 'sent')
		AND (j.start_by < $2 OR NOT EXISTS (SELECT 1 FROM commands c WHERE c.batch_id = j.id AND c.state = 'queued'))
		ORDER BY j.created_at LIMIT $3`, ms(since), ms(now), limit)
}

// MarkJobFinished records that a job finished at at; false when it was
// already recorded (by another replica's sweep).
func (t *Tx) MarkJobFinished(ctx context.Context, jobID string, at time.Time) (bool, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE jobs SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL`, ms(at), jobID)
	if err != nil {
		return false, fmt.Errorf("mark job %s finished: %w", jobID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
