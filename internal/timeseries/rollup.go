package timeseries

import (
	"context"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// maxRollupHours bounds the hours one RollUp run rolls, so catching up
// after a long stop is spread over several runs.
const maxRollupHours = 48

// RollUp rolls the complete hours since its last run up into hourly
// min/avg/max/count, plus the hour before them again for samples that
// arrived late; hours of samples that arrived later still are rolled again
// because ingestion moves the job's mark back to them. The current hour
// is never rolled. It rolls at most maxRollupHours a run; after a stop the
// following runs catch up. It is a singleton job and idempotent.
func (s *Store) RollUp(ctx context.Context) error {
	end := s.now().UTC().Truncate(time.Hour)
	mark, err := s.db.RolledUpTo(ctx)
	if err != nil {
		return err
	}
	start := mark.Add(-time.Hour)
	if mark.IsZero() {
		oldest, err := s.db.OldestSample(ctx)
		if err != nil || oldest.IsZero() {
			return err
		}
		start = oldest.Truncate(time.Hour)
	}
	stop := start.Add(maxRollupHours * time.Hour)
	if stop.After(end) {
		stop = end
	}
	var total int64
	for h := start; h.Before(stop); h = h.Add(time.Hour) {
		// One hour a statement keeps each write short.
		n, err := s.db.RollUp(ctx, h, h.Add(time.Hour))
		if err != nil {
			return err
		}
		total += n
		if next := h.Add(time.Hour); next.After(mark) {
			ok, err := s.db.AdvanceRollups(ctx, mark, next)
			if err != nil {
				return err
			}
			if !ok {
				break // late samples moved the mark back: the next run starts there
			}
			mark = next
		}
	}
	if total > 0 {
		s.log.Debug("rolled up metric samples", "rollups", total, "from", start, "to", mark)
	}
	return nil
}

// PruneRollups removes hourly rollups older than retention. It is a
// singleton job.
func (s *Store) PruneRollups(ctx context.Context, retention time.Duration) error {
	n, err := s.db.DeleteRollupsBefore(ctx, s.now().Add(-retention))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("pruned metric rollups", "count", n, "retention", retention)
	}
	return nil
}

// lateBefore returns the start of the oldest hour among rows that the
// rollup job may already have rolled for the last time, or the zero time.
// The job rolls the previous hour again on every run, so only samples
// older than that are late.
func lateBefore(rows []store.SampleRow, now time.Time) time.Time {
	limit := now.Truncate(time.Hour).Add(-time.Hour)
	var oldest time.Time
	for _, r := range rows {
		if r.At.Before(limit) && (oldest.IsZero() || r.At.Before(oldest)) {
			oldest = r.At
		}
	}
	return oldest
}
