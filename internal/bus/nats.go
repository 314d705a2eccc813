package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// NATS is a Bus over a NATS server, joining the replicas of one Steward
// installation. Subjects are used as they are; handlers run on the
// subscription's own goroutine, one message at a time per subscription.
type NATS struct {
	nc *nats.Conn
}

var _ Bus = (*NATS)(nil)

// DialNATS connects to the NATS server at url; once connected it
// reconnects by itself forever.
func DialNATS(url, name string, log *slog.Logger) (*NATS, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats error", "subject", subject, "err", err)
		}),
	}
	nc, err := nats.Connect(url, append(opts, nats.Timeout(10*time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	return &NATS{nc: nc}, nil
}

// Publish sends data on subject.
func (b *NATS) Publish(_ context.Context, subject string, data []byte) error {
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("nats publish %s: %w", subject, err)
	}
	return nil
}

// Subscribe calls h for every message on subject until unsubscribe.
func (b *NATS) Subscribe(subject string, h Handler) (func(), error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { h(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("nats subscribe %s: %w", subject, err)
	}
	// A slow subscriber must not drop presence or command messages under
	// a burst: allow a deep queue.
	sub.SetPendingLimits(1<<20, 256<<20)
	return func() { sub.Unsubscribe() }, nil
}

// Close flushes pending messages and disconnects.
func (b *NATS) Close() {
	b.nc.Drain()
}
