package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestRetry(t *testing.T) {
	down := errors.New("connection refused")
	t.Run("waits with backoff until it succeeds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var logs bytes.Buffer
			start := time.Now()
			var at []time.Duration
			err := retry(t.Context(), slog.New(slog.NewTextHandler(&logs, nil)), "NATS at nats://bus:4222",
				func(error) bool { return true }, func() error {
					at = append(at, time.Since(start))
					if len(at) < 4 {
						return down
					}
					return nil
				})
			if err != nil {
				t.Fatalf("retry = %v, want nil", err)
			}
			want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
			if len(at) != len(want) {
				t.Fatalf("attempts at %v, want %v", at, want)
			}
			for i := range want {
				if at[i] != want[i] {
					t.Errorf("attempt %d at %v, want %v", i+1, at[i], want[i])
				}
			}
			if got := strings.Count(logs.String(), `msg="waiting for NATS at nats://bus:4222"`); got != 3 {
				t.Errorf("logged the wait %d times, want 3:\n%s", got, logs.String())
			}
		})
	})
	t.Run("a permanent error ends it", func(t *testing.T) {
		bad := errors.New("migration failed")
		n := 0
		err := retry(t.Context(), slog.New(slog.DiscardHandler), "the database", func(err error) bool { return errors.Is(err, down) },
			func() error { n++; return bad })
		if !errors.Is(err, bad) || n != 1 {
			t.Errorf("retry = %v after %d attempts, want %v after 1", err, n, bad)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(10*time.Second, cancel)
			err := retry(ctx, slog.New(slog.DiscardHandler), "the database", func(error) bool { return true }, func() error { return down })
			if !errors.Is(err, down) || !strings.Contains(err.Error(), "gave up waiting for the database") {
				t.Errorf("retry = %v, want it to give up with the last error", err)
			}
		})
	})
}
