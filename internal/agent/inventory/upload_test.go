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
	"testing/synctest"
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

// fakeServer answers uploads in memory, with the status answer returns
// for the nth request (from 1), and records when each came. Without a
// socket the retry tests can run on a synctest clock.
type fakeServer struct {
	answer func(n int) (status int, header http.Header)
	at     []time.Time
}

func (f *fakeServer) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	f.at = append(f.at, time.Now())
	status, header := f.answer(len(f.at))
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// TestUploadRetriesUntilContextEnds runs on a synctest clock: with at most
// 2 ms between attempts, a second holds at least 500 of them, and the
// error names both the deadline and the last failure.
func TestUploadRetriesUntilContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{answer: func(int) (int, http.Header) { return http.StatusServiceUnavailable, nil }}
		u := testUploader()
		u.Client = &http.Client{Transport: srv}
		var targets []string
		server := func() string {
			// Not connected at first, then a replica that keeps failing.
			if len(targets) == 0 {
				targets = append(targets, "")
				return ""
			}
			targets = append(targets, "http://replica.test")
			return "http://replica.test"
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := u.Upload(ctx, server, testBody(t))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last attempt") {
			t.Errorf("got %v, want the deadline and the last failure", err)
		}
		if n := len(srv.at); n < 500 || targets[0] != "" {
			t.Errorf("server answered %d times in a second after an attempt while not connected, want at least 500", n)
		}
	})
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

// TestUploadHonoursRetryAfter runs on a synctest clock: the retry comes
// exactly when the server's Retry-After says, not after the 2 ms backoff.
func TestUploadHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{answer: func(n int) (int, http.Header) {
			if n == 1 {
				return http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}
			}
			return http.StatusNoContent, nil
		}}
		u := testUploader()
		u.Client = &http.Client{Transport: srv}
		if err := u.Upload(t.Context(), func() string { return "http://replica.test" }, testBody(t)); err != nil {
			t.Fatal(err)
		}
		if len(srv.at) != 2 {
			t.Fatalf("server got %d requests, want 2", len(srv.at))
		}
		if gap := srv.at[1].Sub(srv.at[0]); gap != 2*time.Minute {
			t.Errorf("retried after %v, want the server's Retry-After of 2m0s", gap)
		}
	})
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
