package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Pages and forms carry the request deadline: one the database cannot
// answer in time ends with a 503 saying so, not a 500 or a hang. Streams
// (the event stream, agent downloads) are not bounded by it. The server
// always runs with the 30 s default, so this is tested on the wrapper the
// routes share, with a page that waits for its context as a hung database
// query does.
func TestRequestDeadline(t *testing.T) {
	st, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{cfg: Config{RequestTimeout: time.Nanosecond}, log: slog.New(slog.DiscardHandler), static: st}
	if h.pages, err = parsePages(h.funcs()); err != nil {
		t.Fatal(err)
	}
	hung := func(w http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		return r.Context().Err()
	}
	serve := func(hd http.Handler, htmx bool) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/agents", nil)
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		hd.ServeHTTP(rec, req)
		return rec
	}
	if rec := serve(h.public(hung), false); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "could not finish this in time") {
		t.Errorf("page past its deadline: status %d, want 503 saying so; body:\n%s", rec.Code, rec.Body)
	}
	if rec := serve(h.public(hung), true); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("htmx request past its deadline: status %d, want 503", rec.Code)
	}

	var bounded bool
	stream := func(w http.ResponseWriter, r *http.Request) error {
		_, bounded = r.Context().Deadline()
		return nil
	}
	if serve(h.publicStream(stream), false); bounded {
		t.Error("a stream route got the page deadline, want none")
	}
	if serve(h.public(stream), false); !bounded {
		t.Error("a page route got no deadline")
	}
}
