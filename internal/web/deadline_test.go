package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// Pages and forms carry the request deadline: one the database cannot
// answer in time ends with a 503 saying so, not a 500 or a hang. The
// event stream and agent downloads are not bounded by it.
func TestRequestDeadline(t *testing.T) {
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleReadonly)
	// Every query now finds its deadline passed.
	e.h.cfg.RequestTimeout = time.Nanosecond

	res := b.get("/agents")
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "could not finish this in time") {
		t.Errorf("GET /agents past its deadline: status %d, want 503 saying so; body:\n%s", res.status, res.body)
	}
	if res := b.get("/agents", "HX-Request", "true"); res.status != http.StatusServiceUnavailable {
		t.Errorf("htmx GET /agents past its deadline: status %d, want 503", res.status)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("GET /events with a 1 ns page deadline: status %d, type %q; want the stream", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
}
