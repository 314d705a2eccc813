package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

var testFacts = protocol.Facts{Hostname: "web-01", OS: "linux", Arch: "amd64", IPAddresses: []string{}, Users: []string{}}

func TestEnrollSuccess(t *testing.T) {
	var got protocol.EnrollRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/prefix"+protocol.EnrollPath {
			t.Errorf("request %s %s, want POST /prefix%s", r.Method, r.URL.Path, protocol.EnrollPath)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type got %q, want application/json", ct)
		}
		b, _ := io.ReadAll(r.Body)
		req, err := protocol.DecodeEnrollRequest(b)
		if err != nil {
			t.Errorf("server could not decode request: %v", err)
		}
		got = req
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(protocol.EnrollResponse{AgentID: "agent1", AgentSecret: "s3cret"})
	}))
	defer srv.Close()

	resp, err := Enroll(t.Context(), srv.Client(), srv.URL+"/prefix", protocol.EnrollRequest{Token: "tok", Facts: testFacts})
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if diff := cmp.Diff(protocol.EnrollResponse{AgentID: "agent1", AgentSecret: "s3cret"}, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(protocol.EnrollRequest{Token: "tok", Facts: testFacts}, got); diff != "" {
		t.Errorf("request seen by server (-want +got):\n%s", diff)
	}
}

func TestEnrollErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int    // 0: not a ServerError
		wantMsg    string // substring of the error
	}{
		{"expired token", 401, `{"error":"enrollment token expired"}`, 401, "enrollment token expired"},
		{"revoked", 403, `{"error":"enrollment token revoked"}`, 403, "HTTP 403 Forbidden): enrollment token revoked"},
		{"bad request", 400, `{"error":"facts: hostname is required"}`, 400, "hostname is required"},
		{"too large", 413, `{"error":"request too large"}`, 413, "request too large"},
		{"rate limited", 429, `{"error":"too many enrollments, retry later"}`, 429, "too many enrollments"},
		{"proxy html", 502, "<html>\n<body>Bad Gateway</body>\x1b[0m</html>", 502, "<html> <body>Bad Gateway</body> [0m</html>"},
		{"empty", 500, "", 500, "no error message"},
		{"malformed success", 200, `{"agent_id":"a.b","agent_secret":"x"}`, 0, "malformed agent id"},
		{"missing secret", 200, `{"agent_id":"a"}`, 0, "malformed agent id or secret"},
		{"not json", 200, `nope`, 0, "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := Enroll(t.Context(), srv.Client(), srv.URL, protocol.EnrollRequest{Token: "tok", Facts: testFacts})
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Enroll got error %v, want one containing %q", err, tt.wantMsg)
			}
			var se *ServerError
			if gotSE := errors.As(err, &se); gotSE != (tt.wantStatus != 0) || (gotSE && se.StatusCode != tt.wantStatus) {
				t.Errorf("Enroll error %v: ServerError=%v, want status %d", err, gotSE, tt.wantStatus)
			}
		})
	}
}

func TestEnrollRefusesRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example.com/agent/v1/enroll", http.StatusMovedPermanently)
	}))
	defer srv.Close()
	_, err := Enroll(t.Context(), srv.Client(), srv.URL, protocol.EnrollRequest{Token: "tok", Facts: testFacts})
	if err == nil || !strings.Contains(err.Error(), "redirected to https://elsewhere.example.com") {
		t.Errorf("Enroll got %v, want a redirect error naming the target", err)
	}
}

func TestEnrollUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Enroll(t.Context(), http.DefaultClient, url, protocol.EnrollRequest{Token: "tok", Facts: testFacts})
	if err == nil || !strings.HasPrefix(err.Error(), "enroll: ") {
		t.Errorf("Enroll to closed server got %v, want an enroll: error", err)
	}
}

func TestRetryable(t *testing.T) {
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name    string
		handler http.Handler // nil: the server is closed before the request
		timeout bool         // the request times out before the answer
		want    bool
	}{
		{"connection refused", nil, false, true},
		{"timeout", status(http.StatusCreated, `{"agent_id":"a","agent_secret":"s"}`), true, true},
		{"unavailable", status(http.StatusServiceUnavailable, ""), false, true},
		{"bad gateway", status(http.StatusBadGateway, "<html>"), false, true},
		{"rate limited", status(http.StatusTooManyRequests, `{"error":"slow down"}`), false, true},
		{"expired token", status(http.StatusUnauthorized, `{"error":"enrollment token expired"}`), false, false},
		{"bad request", status(http.StatusBadRequest, `{"error":"bad facts"}`), false, false},
		{"malformed success", status(http.StatusOK, `nope`), false, false},
		{"redirect", http.RedirectHandler("https://elsewhere.example.com/", http.StatusFound), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = http.NotFoundHandler()
			}
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.timeout {
					<-release
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			defer close(release)
			if tt.handler == nil {
				srv.Close()
			}
			ctx := t.Context()
			if tt.timeout {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
			}
			_, err := Enroll(ctx, http.DefaultClient, srv.URL, protocol.EnrollRequest{Token: "tok", Facts: testFacts})
			if err == nil {
				t.Fatal("Enroll got nil error, want one")
			}
			if got := Retryable(err); got != tt.want {
				t.Errorf("Retryable(%v) got %v, want %v", err, got, tt.want)
			}
		})
	}
}
