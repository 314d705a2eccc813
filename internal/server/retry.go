package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Bounds of the wait for a dependency at start.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// retry calls try until it succeeds, it returns an error transient does
// not accept, or ctx ends. Between attempts it waits, doubling from
// retryFirst up to retryMax, and says what it waits for: a replica started
// while its database or bus is down (a host reboot starts them together)
// comes up when they do instead of exiting.
func retry(ctx context.Context, log *slog.Logger, what string, transient func(error) bool, try func() error) error {
	delay := retryFirst
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil {
			if attempt > 1 {
				log.Info("reached "+what, "attempts", attempt)
			}
			return nil
		}
		if !transient(err) {
			return err
		}
		log.Warn("waiting for "+what, "attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up waiting for %s: %w", what, err)
		case <-t.C:
		}
		delay = min(2*delay, retryMax)
	}
}
