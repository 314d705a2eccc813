package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// hourMS is an hour in milliseconds, the unit of sample times.
const hourMS = int64(time.Hour / time.Millisecond)

// RollUp computes min, average, max and count per agent, metric and hour
// from the raw samples of the hours in [fromHour, toHour) (both truncated
// to the hour) and stores them, replacing what an earlier run stored for
// the same hour: rolling an hour again after late samples arrived updates
// it. A recomputation from fewer samples than stored is ignored, so an
// hour that raw retention has started to prune keeps its full rollup. It
// returns how many rollups it wrote.
func (db *DB) RollUp(ctx context.Context, fromHour, toHour time.Time) (int64, error) {
	from, to := fromHour.Truncate(time.Hour), toHour.Truncate(time.Hour)
	// The WHERE clause also keeps SQLite from reading ON CONFLICT as a
	// join constraint of the SELECT.
	res, err := db.sql.ExecContext(ctx, `INSERT INTO sample_rollups (agent_id, metric, hour, min, avg, max, count)
		SELECT agent_id, metric, (at / 3600000) * 3600000 AS h, MIN(value), AVG(value), MAX(value), COUNT(*)
		FROM samples WHERE at >= $1 AND at < $2
		GROUP BY agent_id, metric, h
		ON CONFLICT (agent_id, metric, hour) DO UPDATE SET
			min = excluded.min, avg = excluded.avg, max = excluded.max, count = excluded.count
		WHERE excluded.count >= sample_rollups.count`, ms(from), ms(to))
	if err != nil {
		return 0, fmt.Errorf("roll up samples %s to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RolledUpTo returns the time before which every hour has been rolled up,
// or the zero time before the first rollup.
func (db *DB) RolledUpTo(ctx context.Context) (time.Time, error) {
	var v int64
	err := db.sql.QueryRowContext(ctx, `SELECT rolled_to FROM rollup_state WHERE id = 1`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("read rollup state: %w", err)
	}
	return fromMS(v), nil
}

// AdvanceRollups moves RolledUpTo from old (the zero time: no state yet)
// to next. It reports false, changing nothing, when RolledUpTo is no
// longer old: late samples moved it back meanwhile.
func (db *DB) AdvanceRollups(ctx context.Context, old, next time.Time) (bool, error) {
	var (
		res sql.Result
		err error
	)
	if old.IsZero() {
		res, err = db.sql.ExecContext(ctx, `INSERT INTO rollup_state (id, rolled_to) VALUES (1, $1)
			ON CONFLICT (id) DO NOTHING`, ms(next))
	} else {
		res, err = db.sql.ExecContext(ctx, `UPDATE rollup_state SET rolled_to = $1 WHERE id = 1 AND rolled_to = $2`,
			ms(next), ms(old))
	}
	if err != nil {
		return false, fmt.Errorf("advance rollup state: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RewindRollups moves RolledUpTo back to the start of hour's hour if it is
// later, so that the rollup job rolls that hour and the ones after it
// again. Ingestion calls it with the samples it stores late.
func (t *Tx) RewindRollups(ctx context.Context, hour time.Time) error {
	h := ms(hour.Truncate(time.Hour))
	if _, err := t.q.ExecContext(ctx, `UPDATE rollup_state SET rolled_to = $1 WHERE id = 1 AND rolled_to > $1`, h); err != nil {
		return fmt.Errorf("rewind rollup state: %w", err)
	}
	return nil
}

// OldestSample returns the time of the oldest raw sample, or the zero time
// when there is none.
func (db *DB) OldestSample(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT MIN(at) FROM samples`).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("find oldest sample: %w", err)
	}
	return fromNullMS(v), nil
}

// Aggregate summarises the values of one metric over one interval.
type Aggregate struct {
	T             time.Time // start of the interval
	Min, Avg, Max float64
	Count         int64
}

// Prefer says which data RollupSeries reads where both raw samples and
// rollups cover a time.
type Prefer int

// Sources of a series.
const (
	// PreferRaw reads raw samples wherever they exist and rollups only
	// for the hours before the oldest raw sample in the range (the
	// hours retention has pruned).
	PreferRaw Prefer = iota
	// PreferRollups reads rollups wherever they exist and raw samples
	// only after the newest rollup in the range (the hours not rolled up
	// yet, such as the current one).
	PreferRollups
)

// RollupSeries returns an agent's values of one metric in [from, to),
// oldest first, summarised per bucket (epoch-aligned; at least 1 ms) from
// hourly rollups and raw samples as prefer says. A rollup counts in the
// bucket its hour starts in.
func (db *DB) RollupSeries(ctx context.Context, agentID, metric string, from, to time.Time, bucket time.Duration, prefer Prefer) ([]Aggregate, error) {
	const (
		rollups = `SELECT hour AS t, avg * count AS s, count AS c, min AS lo, max AS hi FROM sample_rollups
			WHERE agent_id = $1 AND metric = $2 AND hour >= $3 AND hour < `
		raw = `SELECT at, value, 1, value, value FROM samples
			WHERE agent_id = $1 AND metric = $2 AND at < $4 AND at >= `
	)
	var parts string
	switch prefer {
	case PreferRollups:
		parts = rollups + `$4 UNION ALL ` + raw + `COALESCE((SELECT MAX(hour) + 3600000 FROM sample_rollups
			WHERE agent_id = $1 AND metric = $2 AND hour >= $3 AND hour < $4), $3)`
	default:
		parts = rollups + `COALESCE((SELECT (MIN(at) / 3600000) * 3600000 FROM samples
			WHERE agent_id = $1 AND metric = $2 AND at >= $3 AND at < $4), $4) UNION ALL ` + raw + `$3`
	}
	b := max(bucket.Milliseconds(), 1)
	rows, err := db.sql.QueryContext(ctx, `SELECT (t / $5) * $5 AS b, MIN(lo), SUM(s) / SUM(c), MAX(hi), SUM(c)
		FROM (`+parts+`) u GROUP BY b ORDER BY b`, agentID, metric, ms(from), ms(to), b)
	if err != nil {
		return nil, fmt.Errorf("read rolled-up series %s of %s: %w", metric, agentID, err)
	}
	defer rows.Close()
	out := []Aggregate{}
	for rows.Next() {
		var (
			a  Aggregate
			at int64
		)
		if err := rows.Scan(&at, &a.Min, &a.Avg, &a.Max, &a.Count); err != nil {
			return nil, fmt.Errorf("read rolled-up series %s of %s: %w", metric, agentID, err)
		}
		a.T = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteRollupsBefore removes rollups of hours that start before cutoff
// and returns how many rows it removed.
func (db *DB) DeleteRollupsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := db.deleteBefore(ctx, "sample_rollups", "hour", cutoff)
	if err != nil {
		return n, fmt.Errorf("prune rollups: %w", err)
	}
	return n, nil
}
