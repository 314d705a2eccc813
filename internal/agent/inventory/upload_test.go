package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

func testUploader() Uploader {
	return Uploader{
		Auth:    protocol.FormatCredential("agent-1", "s3cret"),
		Backoff: backoff.Backoff{Base: time.Millisecond, Cap: 2 * time.Millisecond},
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func testBody(t *testing.T) []byte {
	t.Helper()
	inv := Sanitize(protocol.Inventory{CollectedAt: time.Now(), Reason: protocol.InventoryRequest,
		Software: []protocol.Software{{Name: "curl", Version: "8.5", Source: protocol.SoftwareDpkg}}}, time.Now())
	b, err := protocol.EncodeInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUpload(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int // answers in turn; the last repeats
		body      string
		wantCalls int32
		wantErr   string // "" for success
	}{
		{"no content", []int{204}, "", 1, ""},
		{"any 2xx", []int{200}, "{}", 1, ""},
		{"500 then 204", []int{500, 502, 204}, "", 3, ""},
		{"429 then 204", []int{429, 204}, "", 2, ""},
		{"400 gives up", []int{400}, `{"error":"software[3]: name is required"}`, 1,
			"HTTP 400 Bad Request: software[3]: name is required"},
		{"401 gives up", []int{401}, `<html>proxy</html>`, 1, "HTTP 401 Unauthorized"},
		{"redirect gives up", []int{307}, "", 1, "redirected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if r.Method != http.MethodPost || r.URL.Path != "/prefix"+protocol.InventoryPath {
					t.Errorf("got %s %s, want POST /prefix%s", r.Method, r.URL.Path, protocol.InventoryPath)
				}
				if got := r.Header.Get("Authorization"); got != "Agent agent-1.s3cret" {
					t.Errorf("Authorization got %q", got)
				}
				if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers got %v", r.Header)
				}
				inv, err := protocol.DecodeInventoryBody(r.Body, true)
				if err != nil || len(inv.Software) != 1 {
					t.Errorf("decode upload: %v (%d entries)", err, len(inv.Software))
				}
				code := tt.statuses[min(int(n), len(tt.statuses))-1]
				if code == 307 {
					w.Header().Set("Location", srv.URL+"/elsewhere")
				}
				w.WriteHeader(code)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			err := testUploader().Upload(t.Context(), func() string { return srv.URL + "/prefix/" }, testBody(t))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Upload got %v, want success", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Upload got %v, want an error containing %q", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("server got %d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestUploadStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: "too\nlarge"})
	}))
	defer srv.Close()
	err := testUploader().Upload(t.Context(), func() string { return srv.URL }, testBody(t))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 413 || se.Message != "too large" {
		t.Errorf("got %v, want a StatusError 413 with the cleaned message", err)
	}
}

func TestUploadRetriesUntilContextEnds(t *testing.T) {
	var answered atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answered.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	u := testUploader()
	var targets []string
	server := func() string {
		// Not connected at first, then a replica that keeps failing.
		if len(targets) == 0 {
			targets = append(targets, "")
			return ""
		}
		targets = append(targets, srv.URL)
		return srv.URL
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := u.Upload(ctx, server, testBody(t))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last attempt") {
		t.Errorf("got %v, want the deadline and the last failure", err)
	}
	if n := answered.Load(); n < 2 || targets[0] != "" {
		t.Errorf("server answered %d times after an attempt while not connected, want retries", n)
	}
}

func TestParseInterval(t *testing.T) {
	for doc, want := range map[string]time.Duration{
		`{"inventory":{"interval":"12h"}}`: 12 * time.Hour,
		`{"inventory":{"interval":"-1h"}}`: DefaultInterval,
		`{"inventory":{"interval":5}}`:     DefaultInterval,
		`{"metrics":{"interval":"1m"}}`:    DefaultInterval,
		`not json`:                         DefaultInterval,
		``:                                 DefaultInterval,
		`{"inventory":{"interval":"90m"}}`: 90 * time.Minute,
	} {
		if got := ParseInterval(json.RawMessage(doc)); got != want {
			t.Errorf("ParseInterval(%s) got %s, want %s", doc, got, want)
		}
	}
}

func TestUploadHonoursRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	start := time.Now()
	if err := testUploader().Upload(t.Context(), func() string { return srv.URL }, testBody(t)); err != nil {
		t.Fatal(err)
	}
	// The backoff alone would retry within 2ms.
	if took := time.Since(start); took < time.Second {
		t.Errorf("retried after %s, want the server's Retry-After of 1s", took)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"Sun, 22 Nov 2026 06:00:30 GMT": 30 * time.Second,
		"Sun, 22 Nov 2026 05:00:00 GMT": 0,
		"soon":                          0,
		// Beyond what a Duration holds: as long as a wait can be.
		"9223372036854775807":           maxRetryAfter,
		"Sat, 22 Nov 2036 06:00:00 GMT": maxRetryAfter,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) got %s, want %s", h, got, want)
		}
	}
}
