package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SampleRow is one stored metric value.
type SampleRow struct {
	AgentID string
	Metric  string // name[:instance]
	At      time.Time
	Value   float64
}

// InsertSamples stores rows in multi-row statements inside tx, ignoring
// rows already stored (a batch the agent sent again).
func (t *Tx) InsertSamples(ctx context.Context, rows []SampleRow) error {
	n := t.db.dialect.rowsPerStatement() * 2 // four parameters a row
	for start := 0; start < len(rows); start += n {
		chunk := rows[start:min(start+n, len(rows))]
		var (
			sb   strings.Builder
			args = make([]any, 0, 4*len(chunk))
		)
		sb.WriteString(`INSERT INTO samples (agent_id, metric, at, value) VALUES `)
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4)
			args = append(args, r.AgentID, r.Metric, ms(r.At), r.Value)
		}
		sb.WriteString(` ON CONFLICT (agent_id, metric, at) DO NOTHING`)
		if _, err := t.q.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("insert samples: %w", err)
		}
	}
	return nil
}

// Point is one value of a series.
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Series returns an agent's values of one metric in [from, to), oldest
// first. With bucket > 0 the values are averaged per bucket, so a long
// range stays a few hundred points.
func (db *DB) Series(ctx context.Context, agentID, metric string, from, to time.Time, bucket time.Duration) ([]Point, error) {
	var (
		q    string
		args = []any{agentID, metric, ms(from), ms(to)}
	)
	if bucket > 0 {
		q = `SELECT (at / $5) * $5 AS b, AVG(value) FROM samples
			WHERE agent_id = $1 AND metric = $2 AND at >= $3 AND at < $4 GROUP BY b ORDER BY b`
		args = append(args, bucket.Milliseconds())
	} else {
		q = `SELECT at, value FROM samples WHERE agent_id = $1 AND metric = $2 AND at >= $3 AND at < $4 ORDER BY at`
	}
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read series %s of %s: %w", metric, agentID, err)
	}
	defer rows.Close()
	out := []Point{}
	for rows.Next() {
		var (
			at int64
			v  float64
		)
		if err := rows.Scan(&at, &v); err != nil {
			return nil, fmt.Errorf("read series %s of %s: %w", metric, agentID, err)
		}
		out = append(out, Point{T: fromMS(at), V: v})
	}
	return out, rows.Err()
}

// AgentMetrics lists the metric names an agent has values for since a time.
func (db *DB) AgentMetrics(ctx context.Context, agentID string, since time.Time) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT metric FROM samples WHERE agent_id = $1 AND at >= $2 ORDER BY metric`,
		agentID, ms(since))
	if err != nil {
		return nil, fmt.Errorf("list metrics of %s: %w", agentID, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("list metrics of %s: %w", agentID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteSamplesBefore removes raw samples older than cutoff and returns
// how many rows it removed.
func (db *DB) DeleteSamplesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := db.deleteBefore(ctx, "samples", "at", cutoff)
	if err != nil {
		return n, fmt.Errorf("prune samples: %w", err)
	}
	return n, nil
}

// deleteBefore deletes rows of table whose time column is before cutoff,
// in chunks, so a large backlog never holds the write lock for long. The
// table and column names are constants of this package, never input.
func (db *DB) deleteBefore(ctx context.Context, table, column string, cutoff time.Time) (int64, error) {
	q := fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN
		(SELECT %[2]s FROM %[1]s WHERE %[2]s < $1 ORDER BY %[2]s LIMIT 10000) AND %[2]s < $1`, table, column)
	var total int64
	for {
		res, err := db.sql.ExecContext(ctx, q, ms(cutoff))
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n == 0 {
			return total, nil
		}
	}
}
