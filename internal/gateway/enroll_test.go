package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func TestGateway(t *testing.T) {
	// Each test starts its own server, so the rate limiters start empty.
	for _, b := range servertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("Enroll", func(t *testing.T) { testEnroll(t, b) })
			t.Run("EnrollRejected", func(t *testing.T) { testEnrollRejected(t, b) })
			t.Run("EnrollRateLimit", func(t *testing.T) { testEnrollRateLimit(t, b) })
			t.Run("ConnectUnauthorized", func(t *testing.T) { testConnectUnauthorized(t, b) })
			t.Run("ConnectRateLimit", func(t *testing.T) { testConnectRateLimit(t, b) })
			t.Run("Hello", func(t *testing.T) { testHello(t, b) })
			t.Run("Messages", func(t *testing.T) { testMessages(t, b) })
			t.Run("ProtocolViolations", func(t *testing.T) { testProtocolViolations(t, b) })
			t.Run("Inventory", func(t *testing.T) { testInventory(t, b) })
		})
	}
}

func enrollBody(t *testing.T, token string, fa protocol.Facts) []byte {
	t.Helper()
	b, err := json.Marshal(protocol.EnrollRequest{Token: token, Facts: fa})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e protocol.ErrorResponse
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	var all map[string]any
	json.Unmarshal(body, &all)
	if len(all) != 1 {
		t.Errorf("error body = %s, want only an \"error\" field", body)
	}
	return e.Error
}

func testEnroll(t *testing.T, be servertest.Backend) {
	ctx := t.Context()
	s := newServer(t, be, serverOptions{})
	before, err := s.db.EnrollmentToken(ctx, mustTokenID(t, s))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, header, body := s.postEnroll(t, enrollBody(t, s.token, facts("enrolled-1")), nil)
	if status != http.StatusOK {
		t.Fatalf("enroll: status %d, body %s", status, body)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var res protocol.EnrollResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.AgentID == "" || len(res.AgentSecret) < 40 {
		t.Fatalf("enroll response = %s, want an agent ID and a 256-bit secret", body)
	}

	a := s.agentRow(t, res.AgentID)
	want := store.Agent{
		ID: res.AgentID, ClientID: s.site.ClientID, ClientName: s.site.ClientName, SiteID: s.site.ID, SiteName: s.site.Name,
		Hostname: "enrolled-1", OS: "linux", OSName: "debian", OSVersion: "12", Arch: "amd64", Kernel: "6.1.0", Version: "0.1.0",
		BootTime: facts("").BootTime, IPAddresses: []string{"10.0.0.9"}, Users: []string{"root"},
		Trays: []protocol.TrayInfo{}, EnrolledAt: a.EnrolledAt, LastSeen: a.LastSeen, Status: store.StatusOffline,
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("enrolled agent (-want +got):\n%s", diff)
	}
	if a.EnrolledAt.Before(start.Add(-time.Second)) || a.EnrolledAt.After(time.Now().Add(time.Second)) {
		t.Errorf("enrolled_at = %v, want now", a.EnrolledAt)
	}

	// Only a hash of the secret is kept.
	hash, err := s.db.AgentSecretHash(ctx, res.AgentID)
	if err != nil {
		t.Fatal(err)
	}
	if hash == res.AgentSecret || !auth.SecretMatches(res.AgentSecret, hash) {
		t.Errorf("stored secret %q is not the hash of the issued secret", hash)
	}

	after, err := s.db.EnrollmentToken(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Uses != before.Uses+1 {
		t.Errorf("token uses = %d after enrolling, want %d", after.Uses, before.Uses+1)
	}

	entries, _, err := s.db.ListAudit(ctx, store.AuditFilter{Action: "agent.enroll", TargetID: res.AgentID}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].IP != "127.0.0.1" || entries[0].ActorType != "agent" || entries[0].Detail["site_id"] != s.site.ID {
		t.Errorf("enroll audit entries = %+v, want one by the agent from 127.0.0.1 for site %s", entries, s.site.ID)
	}

	// Enrolling twice makes two agents with different secrets.
	id2, secret2 := s.enroll(t, "enrolled-1")
	if id2 == res.AgentID || secret2 == res.AgentSecret {
		t.Errorf("second enrollment reused agent %s or its secret", id2)
	}
}

func mustTokenID(t *testing.T, s *server) string {
	t.Helper()
	toks, err := s.db.ListEnrollmentTokens(t.Context(), s.site.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if strings.HasPrefix(s.token, tok.Prefix) && tok.MaxUses == 0 {
			return tok.ID
		}
	}
	t.Fatal("the fleet's enrollment token is not listed")
	return ""
}

func testEnrollRejected(t *testing.T, be servertest.Backend) {
	ctx := t.Context()
	s := newServer(t, be, serverOptions{})

	// A token that expired a minute ago, made directly in the store since
	// manage refuses lifetimes that short.
	expired := auth.NewSecret(auth.PrefixEnrollment)
	if _, err := s.db.CreateEnrollmentToken(ctx, store.EnrollmentToken{
		SiteID: s.site.ID, Prefix: expired[:10], CreatedBy: "test", ExpiresAt: time.Now().Add(-time.Minute),
	}, auth.HashSecret(expired)); err != nil {
		t.Fatal(err)
	}
	revoked, revokedTok, err := s.svc.CreateEnrollmentToken(ctx, access.Console(), s.site.ID, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.RevokeEnrollmentToken(ctx, access.Console(), revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	usedUp, _, err := s.svc.CreateEnrollmentToken(ctx, access.Console(), s.site.ID, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := s.postEnroll(t, enrollBody(t, usedUp, facts("first-and-only")), nil); status != http.StatusOK {
		t.Fatalf("first use of a one-use token: status %d, body %s", status, body)
	}

	bad := facts("bad")
	bad.IPAddresses = []string{"not-an-ip"}
	ctrl := facts("evil\x1b[31mhost")
	long := facts(strings.Repeat("h", 300))
	huge := `{"token":"` + s.token + `","facts":{"hostname":"big","os":"` + strings.Repeat("x", protocol.MaxEnrollBodyBytes) + `"}}`

	tests := []struct {
		name       string
		body       []byte
		wantStatus int
		wantError  string // exact, or a prefix when it ends in "*"
	}{
		{"unknown token", enrollBody(t, auth.NewSecret(auth.PrefixEnrollment), facts("h")), http.StatusUnauthorized, "unknown enrollment token"},
		{"expired token", enrollBody(t, expired, facts("h")), http.StatusForbidden, "enrollment token has expired"},
		{"revoked token", enrollBody(t, revoked, facts("h")), http.StatusForbidden, "enrollment token has been revoked"},
		{"used-up token", enrollBody(t, usedUp, facts("h")), http.StatusForbidden, "enrollment token has reached its maximum number of uses"},
		{"malformed JSON", []byte(`{"token":`), http.StatusBadRequest, "invalid enrollment request: *"},
		{"not an object", []byte(`"ste_x"`), http.StatusBadRequest, "invalid enrollment request: *"},
		{"trailing data", append(enrollBody(t, s.token, facts("h")), []byte(`{}`)...), http.StatusBadRequest, "invalid enrollment request: *"},
		{"empty body", nil, http.StatusBadRequest, "invalid enrollment request: *"},
		{"missing token", enrollBody(t, "", facts("h")), http.StatusBadRequest, "invalid enrollment request: missing token"},
		{"token with spaces", enrollBody(t, "ste_a b", facts("h")), http.StatusBadRequest, "invalid enrollment request: *"},
		{"missing hostname", enrollBody(t, s.token, protocol.Facts{OS: "linux"}), http.StatusBadRequest, "invalid enrollment request: facts: hostname is required"},
		{"bad IP address", enrollBody(t, s.token, bad), http.StatusBadRequest, "invalid enrollment request: *"},
		{"control characters", enrollBody(t, s.token, ctrl), http.StatusBadRequest, "invalid enrollment request: *"},
		{"hostname too long", enrollBody(t, s.token, long), http.StatusBadRequest, "invalid enrollment request: *"},
		{"body over 64 KiB", []byte(huge), http.StatusRequestEntityTooLarge, "enrollment request is larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := s.postEnroll(t, tt.body, nil)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", status, tt.wantStatus, body)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			got := errorOf(t, body)
			if prefix, ok := strings.CutSuffix(tt.wantError, "*"); ok {
				if !strings.HasPrefix(got, prefix) || len(got) == len(prefix) {
					t.Errorf("error = %q, want %q followed by a reason", got, prefix)
				}
			} else if got != tt.wantError {
				t.Errorf("error = %q, want %q", got, tt.wantError)
			}
		})
	}

	// None of the rejected requests created an agent.
	agents, _, err := s.db.ListAgents(ctx, store.AgentFilter{Query: "h"}, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		switch a.Hostname {
		case "h", "bad", "big":
			t.Errorf("a rejected enrollment created agent %q", a.Hostname)
		}
	}

	t.Run("wrong method", func(t *testing.T) {
		res, err := http.DefaultClient.Get(s.URL + protocol.EnrollPath)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
			t.Errorf("GET %s: status %d, Allow %q, want %d, POST", protocol.EnrollPath, res.StatusCode, res.Header.Get("Allow"), http.StatusMethodNotAllowed)
		}
		if msg := errorOf(t, body); !strings.Contains(msg, "use POST") {
			t.Errorf("error %q, want it to say to use POST", msg)
		}
	})

	t.Run("unknown agent path", func(t *testing.T) {
		res := s.Do(t, servertest.Request{Method: "POST", Path: "/agent/v1/enrol"})
		if res.Status != http.StatusNotFound || !strings.Contains(errorOf(t, res.Body), "no such agent endpoint") {
			t.Errorf("POST /agent/v1/enrol: status %d, body %s; want a JSON 404", res.Status, res.Body)
		}
	})
}

func testEnrollRateLimit(t *testing.T, be servertest.Backend) {
	// Behind a trusted proxy the limit applies to the forwarded address,
	// which lets one test act as several callers.
	s := newServer(t, be, serverOptions{trustProxy: true})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	guess := func() []byte { return enrollBody(t, auth.NewSecret(auth.PrefixEnrollment), facts("guesser")) }

	// Malformed requests are not guesses and do not count.
	for range 40 {
		if status, _, body := s.postEnroll(t, []byte(`{`), from("203.0.113.7")); status != http.StatusBadRequest {
			t.Fatalf("malformed enrollment: status %d, want 400; body %s", status, body)
		}
	}
	const limit = 30
	for i := range limit {
		if status, _, body := s.postEnroll(t, guess(), from("203.0.113.7")); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401; body %s", i+1, status, body)
		}
	}
	for _, body := range [][]byte{guess(), enrollBody(t, s.token, facts("legit-but-late"))} {
		status, header, b := s.postEnroll(t, body, from("203.0.113.7"))
		if status != http.StatusTooManyRequests {
			t.Fatalf("after %d failures: status %d, want 429; body %s", limit, status, b)
		}
		if got, want := errorOf(t, b), "too many failed enrollment attempts; try again later"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		secs, err := strconv.Atoi(header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 601 {
			t.Errorf("Retry-After = %q, want whole seconds within the 10-minute window", header.Get("Retry-After"))
		}
	}
	// Another address is not affected.
	if status, _, body := s.postEnroll(t, enrollBody(t, s.token, facts("other-ip")), from("203.0.113.8")); status != http.StatusOK {
		t.Errorf("enroll from another address: status %d, want 200; body %s", status, body)
	}
}
