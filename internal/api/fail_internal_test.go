package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestFailContext: a request the caller abandoned is not a server error,
// and one past the server's own deadline is a 503, not a 500.
func TestFailContext(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ctx        func() (context.Context, context.CancelFunc)
		err        error
		wantStatus int
		wantLog    string
	}{
		{"abandoned", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled, http.StatusOK, "level=INFO msg=\"api request abandoned by the caller\""},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(1, 0))
		}, context.DeadlineExceeded, http.StatusServiceUnavailable, "level=WARN msg=\"api request timed out\""},
		{"other", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, context.Canceled, http.StatusInternalServerError, "level=ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := New(Config{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			ctx, cancel := tc.ctx()
			defer cancel()
			r := httptest.NewRequestWithContext(ctx, "GET", "/api/v1/agents", nil)
			w := httptest.NewRecorder()
			a.fail(w, r, fmt.Errorf("list agents: %w", tc.err))
			if w.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tc.wantStatus)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log = %q, want it to hold %q", logs.String(), tc.wantLog)
			}
		})
	}
}
