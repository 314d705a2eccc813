package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
)

// PolicySource is where the sampler reads the effective policy; a
// settings.Store.
type PolicySource interface {
	Current() config.Policy
	Changed() <-chan struct{}
}

// maxCollectTime bounds one collection pass, against a hung source (a dead
// network file system, a stuck WMI query).
const maxCollectTime = 30 * time.Second

// Sampler collects a sample every metrics interval into a Buffer,
// following policy changes without a restart.
type Sampler struct {
	policy PolicySource
	col    *Collector
	buf    *Buffer
	log    *slog.Logger
}

// NewSampler returns a Sampler; call Run.
func NewSampler(policy PolicySource, col *Collector, buf *Buffer, log *slog.Logger) *Sampler {
	return &Sampler{policy: policy, col: col, buf: buf, log: log}
}

// Run samples at once and then every interval until ctx is cancelled.
func (s *Sampler) Run(ctx context.Context) {
	changed := s.policy.Changed()
	p := s.apply(ctx)
	s.sample(ctx, p)
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			changed = s.policy.Changed()
			next := s.apply(ctx)
			if next.Interval != p.Interval {
				t.Reset(next.Interval)
				s.log.InfoContext(ctx, "metrics interval changed", "interval", next.Interval)
			}
			p = next
		case <-t.C:
			s.sample(ctx, p)
		}
	}
}

// apply reads the current policy and sets the buffer's bounds from it.
func (s *Sampler) apply(ctx context.Context) Policy {
	p := ParsePolicy(s.policy.Current().Policy) // defaults without a policy
	if err := s.buf.SetLimits(p.MaxSamples, p.MaxBytes); err != nil {
		s.log.WarnContext(ctx, "cannot apply metrics buffer limits", "err", err)
	}
	return p
}

func (s *Sampler) sample(ctx context.Context, p Policy) {
	cctx, cancel := context.WithTimeout(ctx, min(p.Interval, maxCollectTime))
	defer cancel()
	smp := s.col.Collect(cctx, p)
	if ctx.Err() != nil || len(smp.Values) == 0 {
		return // shutting down, or every group off
	}
	if err := s.buf.Append(smp); err != nil {
		s.log.WarnContext(ctx, "cannot buffer metrics sample", "err", err)
	}
}
