// Package timeseries stores the metric samples agents send and reads them
// back for charts and the API. Incoming batches are validated value by
// value (impossible values, unknown names and impossible times are
// refused and counted, never stored) and written with group commit:
// batches that arrive while a write is under way are written together in
// the next transaction, so ingestion keeps up with thousands of agents.
package timeseries

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steward-rmm/steward/internal/groupcommit"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Accepted time window of a sample relative to the server's clock.
const (
	MaxFuture = 5 * time.Minute
	MaxAge    = 30 * 24 * time.Hour
)

// Store ingests and serves samples.
type Store struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time

	stored   prometheus.Counter
	rejected *prometheus.CounterVec
	dropped  prometheus.Counter

	group *groupcommit.Group[[]store.SampleRow]
}

// New returns a Store; reg, if not nil, receives its metrics.
func New(db *store.DB, log *slog.Logger, reg prometheus.Registerer) *Store {
	s := &Store{
		db: db, log: log, now: time.Now,
		stored: prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_metric_values_stored_total",
			Help: "Metric values stored."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_metric_values_rejected_total",
			Help: "Metric values refused, by reason."}, []string{"reason"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_agent_samples_dropped_total",
			Help: "Samples agents reported dropping from their offline buffers."}),
	}
	s.group = groupcommit.New(s.commit)
	if reg != nil {
		reg.MustRegister(s.stored, s.rejected, s.dropped)
	}
	return s
}

// Ingest validates a batch from an agent, stores what is valid and returns
// the acknowledgement to send back. It returns only after the values are
// committed, so an acknowledged sample is never lost.
func (s *Store) Ingest(ctx context.Context, agentID string, b protocol.MetricsBatch) (protocol.MetricsAck, error) {
	now := s.now()
	var (
		rows     []store.SampleRow
		rejected map[string]int
	)
	reject := func(reason string, n int) {
		if rejected == nil {
			rejected = map[string]int{}
		}
		rejected[reason] += n
		s.rejected.WithLabelValues(reason).Add(float64(n))
	}
	for _, sample := range b.Samples {
		switch {
		case sample.Time.After(now.Add(MaxFuture)):
			reject(protocol.RejectFutureTime, len(sample.Values))
			continue
		case sample.Time.Before(now.Add(-MaxAge)):
			reject(protocol.RejectTooOld, len(sample.Values))
			continue
		}
		for key, v := range sample.Values {
			name, _, ok := protocol.SplitMetric(key)
			if !ok {
				reject(protocol.RejectUnknownMetric, 1)
				continue
			}
			if reason := protocol.CheckValue(name, v); reason != "" {
				reject(reason, 1)
				continue
			}
			rows = append(rows, store.SampleRow{AgentID: agentID, Metric: key, At: sample.Time, Value: v})
		}
	}
	if b.Dropped > 0 {
		s.dropped.Add(float64(b.Dropped))
		s.log.Warn("agent dropped samples from its offline buffer", "agent_id", agentID, "dropped", b.Dropped)
	}
	if len(rows) > 0 {
		if err := s.write(ctx, rows); err != nil {
			return protocol.MetricsAck{}, err
		}
		s.stored.Add(float64(len(rows)))
	}
	return protocol.MetricsAck{Stored: len(rows), Rejected: rejected}, nil
}

// write commits rows with group commit.
func (s *Store) write(ctx context.Context, rows []store.SampleRow) error {
	return s.group.Do(ctx, rows)
}

// commit writes batches of rows in one transaction and moves the rollups
// back for samples that arrived late.
func (s *Store) commit(ctx context.Context, batches [][]store.SampleRow) []error {
	var all []store.SampleRow
	for _, rows := range batches {
		all = append(all, rows...)
	}
	late := lateBefore(all, s.now())
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertSamples(ctx, all); err != nil {
			return err
		}
		if late.IsZero() {
			return nil
		}
		return tx.RewindRollups(ctx, late)
	})
	return groupcommit.Same(err, len(batches))
}

// maxPoints bounds a series answer; longer ranges are averaged per bucket.
const maxPoints = 720

// RollupSpan is the longest range Series reads from raw samples; longer
// ranges read hourly rollups. It matches the default raw retention.
const RollupSpan = 7 * 24 * time.Hour

// Series returns an agent's values of a metric in [from, to), raw or
// rolled up depending on the range, and reports the bucket used (0 for
// raw values):
//
//   - Up to RollupSpan it reads raw samples: as they are when they fit in
//     maxPoints at the given collection interval, averaged per bucket
//     otherwise. Hours before the oldest raw sample in the range (pruned
//     by a raw retention shorter than the range) come from their rollups.
//   - Longer ranges read hourly rollups, in buckets of whole hours so
//     there are at most maxPoints, and raw samples after the newest
//     rollup: the current hour, which is never rolled up, is always
//     there. Where there are no rollups at all it is raw samples in the
//     same buckets.
//
// Averages over several hours are weighted by sample count.
func (s *Store) Series(ctx context.Context, agentID, metric string, from, to time.Time, interval time.Duration) ([]store.Point, time.Duration, error) {
	var bucket time.Duration
	if interval <= 0 {
		interval = time.Minute
	}
	span := to.Sub(from)
	prefer := store.PreferRaw
	if span > RollupSpan {
		prefer = store.PreferRollups
		bucket = max(time.Hour, ((span+maxPoints-1)/maxPoints + time.Hour - 1).Truncate(time.Hour))
	} else if span/interval > maxPoints {
		bucket = max(interval, (span / maxPoints).Round(time.Second))
	}
	aggs, err := s.db.RollupSeries(ctx, agentID, metric, from, to, bucket, prefer)
	if err != nil {
		return nil, 0, err
	}
	points := make([]store.Point, len(aggs))
	for i, a := range aggs {
		points[i] = store.Point{T: a.T, V: a.Avg}
	}
	return points, bucket, nil
}

// Prune removes raw samples older than retention. It is a singleton job:
// one replica runs it for all.
func (s *Store) Prune(ctx context.Context, retention time.Duration) error {
	n, err := s.db.DeleteSamplesBefore(ctx, s.now().Add(-retention))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("pruned raw metric samples", "count", n, "retention", retention)
	}
	return nil
}
