package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// The event stream through the real server: a signed-in browser is told
// when an agent connects and when it leaves; without a session it is
// refused. (Coalescing and closing: events_test.go.)
func TestEventStreamPresence(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	a := e.enroll(f, linuxFacts("web-01"))

	if res := e.browser().get("/events"); res.status != http.StatusUnauthorized {
		t.Errorf("GET /events signed out: status %d, want 401", res.status)
	}

	b := e.signedIn(store.RoleReadonly)
	// The stream is read until servertest.Wait at most: a missing line
	// fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), servertest.Wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(res.Body)
	next := func(prefix string) {
		t.Helper()
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), prefix) {
				return
			}
		}
		t.Fatalf("stream ended without a %q line: %v", prefix, lines.Err())
	}
	next(": connected")
	ag := e.connect(a, linuxFacts("web-01"))
	next("event: presence")
	ag.Close()
	e.srv.WaitPresence(t, a.ID, false)
	next("event: presence")
}
