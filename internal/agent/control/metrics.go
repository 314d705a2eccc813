package control

import (
	"context"
	"log/slog"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// metricsSender sends the batches of Options.Metrics over one connection:
// one batch in flight at a time, removed from the outbox when the server
// acknowledges it, sent again from the outbox when no acknowledgement
// comes within MetricsAckWait. A new connection starts over from the
// outbox, so a batch unacknowledged when a connection ends is sent again.
// serve's goroutine owns it.
type metricsSender struct {
	box  Outbox
	log  *slog.Logger
	wait time.Duration

	pending string // envelope ID of the batch in flight, "" if none
	batch   string // that batch's outbox id
	off     bool   // the server does not take metrics on this connection
	timer   *time.Timer
}

func newMetricsSender(box Outbox, log *slog.Logger, wait time.Duration) *metricsSender {
	t := time.NewTimer(wait)
	t.Stop()
	return &metricsSender{box: box, log: log, wait: wait, timer: t}
}

// ready is signalled when the outbox has new samples; nil without one.
func (m *metricsSender) ready() <-chan struct{} {
	if m.box == nil {
		return nil
	}
	return m.box.Ready()
}

func (m *metricsSender) stop() { m.timer.Stop() }

// send sends the next batch unless one is in flight. A batch too large for
// one message is halved until it fits; a single sample that does not fit
// can never be sent and is discarded. Only a failed write is returned.
func (m *metricsSender) send(ctx context.Context, nextID func() string, write func(typ string, b []byte) error) error {
	if m.box == nil || m.off || m.pending != "" {
		return nil
	}
	n := protocol.MaxSamplesPerBatch
	for {
		id, batch, ok := m.box.Next(n)
		if !ok {
			return nil
		}
		envID := nextID()
		b, err := protocol.Encode(protocol.TypeMetrics, envID, batch)
		if err != nil { // too large: the batch marshals, being plain data
			if len(batch.Samples) > 1 {
				n = len(batch.Samples) / 2
				continue
			}
			m.log.ErrorContext(ctx, "discarding a metrics sample too large to send", "err", err)
			if err := m.box.Acked(id); err != nil {
				m.log.WarnContext(ctx, "cannot remove metrics sample from the buffer", "err", err)
			}
			continue
		}
		if err := write(protocol.TypeMetrics, b); err != nil {
			return err
		}
		m.pending, m.batch = envID, id
		m.timer.Reset(m.wait)
		m.log.DebugContext(ctx, "sent metrics", "id", envID, "samples", len(batch.Samples), "dropped", batch.Dropped)
		return nil
	}
}

// acked handles a metrics_ack; it reports whether the next batch may go.
func (m *metricsSender) acked(ctx context.Context, data []byte) bool {
	a, err := protocol.DecodeMetricsAck(data)
	if err != nil {
		m.log.WarnContext(ctx, "ignoring malformed metrics_ack", "err", err)
		return false
	}
	if m.pending == "" || a.RefID != m.pending {
		// Late, for a batch already sent again.
		m.log.DebugContext(ctx, "ignoring metrics_ack for no batch in flight", "ref_id", a.RefID)
		return false
	}
	if len(a.Rejected) > 0 {
		m.log.WarnContext(ctx, "server rejected part of a metrics batch", "stored", a.Stored, "rejected", a.Rejected)
	}
	m.done(ctx)
	return true
}

// refused handles an error message about the batch in flight; it reports
// whether the next batch may go. A server that does not know metrics gets
// none on this connection; a batch the server calls malformed would be
// refused forever, so it is discarded.
func (m *metricsSender) refused(ctx context.Context, e protocol.Error) bool {
	if m.pending == "" || e.RefID != m.pending {
		return false
	}
	if e.Code == protocol.CodeUnknownType {
		m.log.WarnContext(ctx, "server does not accept metrics; keeping them buffered until the next connection")
		m.pending, m.off = "", true
		m.timer.Stop()
		return false
	}
	m.log.ErrorContext(ctx, "server refused a metrics batch; discarding it", "code", e.Code, "message", e.Message)
	m.done(ctx)
	return true
}

// timedOut forgets the batch in flight, so that send sends it again.
func (m *metricsSender) timedOut(ctx context.Context) {
	if m.pending == "" {
		return
	}
	m.log.WarnContext(ctx, "no metrics_ack from server; sending the batch again", "id", m.pending, "waited", m.wait)
	m.pending = ""
}

func (m *metricsSender) done(ctx context.Context) {
	if err := m.box.Acked(m.batch); err != nil {
		m.log.WarnContext(ctx, "cannot remove acknowledged metrics from the buffer; they may be sent again", "err", err)
	}
	m.pending, m.batch = "", ""
	m.timer.Stop()
}
