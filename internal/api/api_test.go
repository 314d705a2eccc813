package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/api"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

var roles = []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleTechnician, store.RoleReadonly}

// harnessOptions start the API tests' server with a heartbeat far longer
// than any test: the agents the harness marks online hold no connection,
// and the offline sweep must not take them offline meanwhile.
var harnessOptions = servertest.Options{Heartbeat: 10 * time.Minute}

// harness is the API behind the real router, with a user and an API token
// for every role and a small fleet:
//
//	Acme   / HQ     web-01 (online), web-02
//	Acme   / Branch db-01 (online)
//	Globex / Main   WIN-PC7
type harness struct {
	*servertest.Server
	db      *store.DB
	svc     *manage.Service
	authn   *access.Authenticator
	started time.Time // when the harness was built, just after the server started
	users   map[store.Role]store.User
	tokens  map[store.Role]string

	acme, globex         store.Client
	hq, branch, main     store.Site
	web01, web02, db01   store.Agent
	winpc                store.Agent
	agentsByHost         map[string]store.Agent
	totalAgents, onlineN int
}

func newHarness(t *testing.T, s *servertest.Server) *harness {
	t.Helper()
	ctx := t.Context()
	db := s.DB()
	log := slog.New(slog.DiscardHandler)
	h := &harness{
		Server: s, db: db, svc: s.Manage, authn: access.NewAuthenticator(db, log, false), started: time.Now(),
		users: map[store.Role]store.User{}, tokens: map[store.Role]string{}, agentsByHost: map[string]store.Agent{},
	}

	console := access.Console()
	for _, r := range roles {
		u, err := h.svc.CreateUser(ctx, console, string(r)+"@example.com", "correct horse battery", r)
		if err != nil {
			t.Fatalf("CreateUser(%s): %v", r, err)
		}
		tok, _, err := h.svc.CreateAPIToken(ctx, console, u.ID, "test")
		if err != nil {
			t.Fatalf("CreateAPIToken(%s): %v", r, err)
		}
		h.users[r], h.tokens[r] = u, tok
	}

	mustClient := func(name string) store.Client {
		c, err := h.svc.CreateClient(ctx, console, name)
		if err != nil {
			t.Fatalf("CreateClient(%q): %v", name, err)
		}
		return c
	}
	mustSite := func(c store.Client, name string) store.Site {
		s, err := h.svc.CreateSite(ctx, console, c.ID, name)
		if err != nil {
			t.Fatalf("CreateSite(%q): %v", name, err)
		}
		return s
	}
	h.acme, h.globex = mustClient("Acme"), mustClient("Globex")
	h.hq, h.branch, h.main = mustSite(h.acme, "HQ"), mustSite(h.acme, "Branch"), mustSite(h.globex, "Main")

	h.web01 = h.addAgent(t, h.hq, true, protocol.Facts{Hostname: "web-01", OS: "linux", AgentVersion: "1.2.0",
		IPAddresses: []string{"10.0.0.5"}, Users: []string{"alice"}})
	h.web02 = h.addAgent(t, h.hq, false, protocol.Facts{Hostname: "web-02", OS: "linux", AgentVersion: "1.1.0",
		IPAddresses: []string{"10.0.0.6"}})
	h.db01 = h.addAgent(t, h.branch, true, protocol.Facts{Hostname: "db-01", OS: "linux", AgentVersion: "1.3.0",
		IPAddresses: []string{"10.1.0.5"}})
	h.winpc = h.addAgent(t, h.main, false, protocol.Facts{Hostname: "WIN-PC7", OS: "windows", AgentVersion: "1.0.0",
		IPAddresses: []string{"192.168.7.7"}, Users: []string{`CORP\bob`}})
	return h
}

// addAgent enrolls an agent the way the gateway does and optionally marks
// it connected.
func (h *harness) addAgent(t *testing.T, site store.Site, online bool, facts protocol.Facts) store.Agent {
	t.Helper()
	ctx := t.Context()
	secret, _, err := h.svc.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 1)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	a, err := h.db.Enroll(ctx, auth.HashSecret(secret), store.NewAgent{
		SecretHash: auth.HashSecret(auth.NewSecret("")), Facts: facts, IP: "192.0.2.50",
	})
	if err != nil {
		t.Fatalf("Enroll(%s): %v", facts.Hostname, err)
	}
	if online {
		if err := h.db.MarkConnected(ctx, store.Connection{
			AgentID: a.ID, ConnID: store.NewID(), ReplicaID: "r1", RemoteAddr: "192.0.2.50", Facts: facts,
		}); err != nil {
			t.Fatalf("MarkConnected(%s): %v", facts.Hostname, err)
		}
		h.onlineN++
	}
	h.totalAgents++
	h.agentsByHost[facts.Hostname] = a
	return a
}

// request describes one API call. Token is an API token; an empty Token
// and no cookies means an anonymous call.
type request struct {
	method, path string
	body         string
	token        string
	contentType  string // defaults to application/json when body is set
	header       http.Header
	cookies      []*http.Cookie
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.method, h.URL+r.path, body)
	if err != nil {
		t.Fatalf("NewRequest(%s %s): %v", r.method, r.path, err)
	}
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// as calls the API with the API token of role.
func (h *harness) as(t *testing.T, role store.Role, method, path, body string) response {
	t.Helper()
	return h.do(t, request{method: method, path: path, body: body, token: h.tokens[role]})
}

// want fails unless the response has the status and is JSON.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !json.Valid(r.body) {
		t.Errorf("body is not JSON: %q", r.body)
	}
	return r
}

// errorBody decodes an error response, which must carry a message.
func (r response) errorBody(t *testing.T) map[string]string {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if e["error"] == "" {
		t.Errorf(`error body = %s, want a non-empty "error"`, r.body)
	}
	return e
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

// listOf is the shape of every list response.
type listOf[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

func TestAPI(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		t.Run("Unauthenticated", func(t *testing.T) { testUnauthenticated(t, h) })
		t.Run("Roles", func(t *testing.T) { testRoles(t, h) })
		t.Run("Me", func(t *testing.T) { testMe(t, h) })
		t.Run("Session", func(t *testing.T) { testSession(t, h) })
		t.Run("RequestBodies", func(t *testing.T) { testRequestBodies(t, h) })
		t.Run("Conflicts", func(t *testing.T) { testConflicts(t, h) })
		t.Run("NotFound", func(t *testing.T) { testNotFound(t, h) })
		t.Run("UnknownEndpoint", func(t *testing.T) { testUnknownEndpoint(t, h) })
		t.Run("Paging", func(t *testing.T) { testPaging(t, h) })
		t.Run("Agents", func(t *testing.T) { testAgents(t, h) })
		t.Run("AgentShape", func(t *testing.T) { testAgentShape(t, h) })
		t.Run("EnrollmentTokens", func(t *testing.T) { testEnrollmentTokens(t, h) })
		t.Run("Status", func(t *testing.T) { testStatus(t, h) })
		t.Run("AuditTrail", func(t *testing.T) { testAuditTrail(t, h) })
	})
}

// endpoint is one API route, with the path filled in.
type endpoint struct {
	method, path, body string
}

// endpoints returns every route with valid arguments. Each call yields
// fresh names (and a fresh token to revoke) so it can run once per role.
func (h *harness) endpoints(t *testing.T, suffix string) []endpoint {
	t.Helper()
	_, tok, err := h.svc.CreateEnrollmentToken(t.Context(), access.Console(), h.hq.ID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return []endpoint{
		{"GET", "/api/v1/status", ""},
		{"GET", "/api/v1/me", ""},
		{"GET", "/api/v1/clients", ""},
		{"POST", "/api/v1/clients", fmt.Sprintf(`{"name":"Client %s"}`, suffix)},
		{"GET", "/api/v1/clients/" + h.acme.ID, ""},
		{"GET", "/api/v1/clients/" + h.acme.ID + "/sites", ""},
		{"POST", "/api/v1/clients/" + h.acme.ID + "/sites", fmt.Sprintf(`{"name":"Site %s"}`, suffix)},
		{"GET", "/api/v1/sites/" + h.hq.ID, ""},
		{"GET", "/api/v1/sites/" + h.hq.ID + "/enrollment-tokens", ""},
		{"POST", "/api/v1/sites/" + h.hq.ID + "/enrollment-tokens", `{"expires_in":"1h","max_uses":3}`},
		{"POST", "/api/v1/enrollment-tokens/" + tok.ID + "/revoke", ""},
		{"GET", "/api/v1/agents", ""},
		{"GET", "/api/v1/agents/" + h.web01.ID, ""},
		{"GET", "/api/v1/audit", ""},
		{"GET", "/api/v1/agents/" + h.web01.ID + "/inventory/history", ""},
		{"GET", "/api/v1/software?name=curl", ""},
	}
}

// route names an endpoint without its IDs, for subtest names.
func route(e endpoint) string {
	parts := strings.Split(e.path, "/")
	for i, p := range parts {
		if len(p) == 36 && strings.Count(p, "-") == 4 {
			parts[i] = "{id}"
		}
	}
	return e.method + " " + strings.Join(parts, "/")
}

func testUnauthenticated(t *testing.T, h *harness) {
	credentials := []struct {
		name   string
		header string
	}{
		{"none", ""},
		{"unknown token", "Bearer " + auth.NewSecret(auth.PrefixAPIToken)},
		{"token with a typo", "Bearer " + h.tokens[store.RoleOwner] + "x"},
		{"basic auth", "Basic b3duZXI6cGFzc3dvcmQ="},
		{"agent credential", protocol.FormatCredential(h.web01.ID, "secret")},
		{"empty bearer", "Bearer "},
	}
	for _, e := range h.endpoints(t, "anon") {
		for _, c := range credentials {
			t.Run(route(e)+"/"+c.name, func(t *testing.T) {
				r := request{method: e.method, path: e.path, body: e.body, header: http.Header{}}
				if c.header != "" {
					r.header.Set("Authorization", c.header)
				}
				res := h.do(t, r).want(t, http.StatusUnauthorized)
				res.errorBody(t)
				if got, want := res.header.Get("WWW-Authenticate"), `Bearer realm="steward"`; got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			})
		}
	}
	// Nothing was created by the refused calls.
	res := h.as(t, store.RoleOwner, "GET", "/api/v1/clients?limit=500", "").want(t, http.StatusOK)
	for _, c := range decode[listOf[store.Client]](t, res).Items {
		if strings.Contains(c.Name, "anon") {
			t.Errorf("an unauthenticated POST created client %q", c.Name)
		}
	}
}

func testRoles(t *testing.T, h *harness) {
	// allowedPOST lists which roles may make each change; every GET is
	// open to every role.
	allowedPOST := map[string][]store.Role{
		"POST /api/v1/clients":                       {store.RoleOwner, store.RoleAdmin},
		"POST /api/v1/clients/{id}/sites":            {store.RoleOwner, store.RoleAdmin},
		"POST /api/v1/sites/{id}/enrollment-tokens":  {store.RoleOwner, store.RoleAdmin, store.RoleTechnician},
		"POST /api/v1/enrollment-tokens/{id}/revoke": {store.RoleOwner, store.RoleAdmin, store.RoleTechnician},
	}
	wantStatus := map[string]int{
		"POST /api/v1/clients":                       http.StatusCreated,
		"POST /api/v1/clients/{id}/sites":            http.StatusCreated,
		"POST /api/v1/sites/{id}/enrollment-tokens":  http.StatusCreated,
		"POST /api/v1/enrollment-tokens/{id}/revoke": http.StatusOK,
	}
	for _, role := range roles {
		for _, e := range h.endpoints(t, string(role)) {
			name := route(e)
			t.Run(string(role)+"/"+name, func(t *testing.T) {
				want := http.StatusOK
				if e.method == "POST" {
					allowed, ok := allowedPOST[name]
					if !ok {
						t.Fatalf("no permission expectation for %s", name)
					}
					want = http.StatusForbidden
					if slices.Contains(allowed, role) {
						want = wantStatus[name]
					}
				}
				res := h.as(t, role, e.method, e.path, e.body).want(t, want)
				if want == http.StatusForbidden {
					res.errorBody(t)
				}
			})
		}
	}
}

func testMe(t *testing.T, h *harness) {
	for _, role := range roles {
		res := h.as(t, role, "GET", "/api/v1/me", "").want(t, http.StatusOK)
		if bytes.Contains(res.body, []byte("argon2")) || bytes.Contains(res.body, []byte("password")) {
			t.Errorf("GET /api/v1/me as %s leaks the password hash: %s", role, res.body)
		}
		type me struct {
			User struct {
				ID    string     `json:"id"`
				Email string     `json:"email"`
				Role  store.Role `json:"role"`
			} `json:"user"`
			Via string `json:"via"`
		}
		got := decode[me](t, res)
		u := h.users[role]
		if got.User.ID != u.ID || got.User.Email != u.Email || got.User.Role != role || got.Via != "api_token" {
			t.Errorf("GET /api/v1/me as %s = %+v, want %s %s via api_token", role, got, u.Email, role)
		}
	}
}

func testSession(t *testing.T, h *harness) {
	ctx := t.Context()
	w := httptest.NewRecorder()
	if err := h.authn.StartSession(ctx, w, httptest.NewRequest("POST", "/login", nil), h.users[store.RoleAdmin]); err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	session := w.Result().Cookies()
	if len(session) != 1 {
		t.Fatalf("StartSession set %d cookies, want 1", len(session))
	}
	csrf := strings.Repeat("c", 43)
	csrfCookie := &http.Cookie{Name: "steward_csrf", Value: csrf}

	t.Run("GET needs no CSRF token", func(t *testing.T) {
		res := h.do(t, request{method: "GET", path: "/api/v1/me", cookies: session}).want(t, http.StatusOK)
		if !bytes.Contains(res.body, []byte(`"via":"session"`)) {
			t.Errorf("GET /api/v1/me with a session = %s, want via session", res.body)
		}
	})

	tests := []struct {
		name    string
		cookies []*http.Cookie
		header  string
		want    int
	}{
		{name: "no CSRF token", cookies: session, want: http.StatusForbidden},
		{name: "CSRF cookie without header", cookies: append([]*http.Cookie{csrfCookie}, session...), want: http.StatusForbidden},
		{name: "CSRF header without cookie", cookies: session, header: csrf, want: http.StatusForbidden},
		{name: "CSRF header mismatch", cookies: append([]*http.Cookie{csrfCookie}, session...), header: strings.Repeat("d", 43), want: http.StatusForbidden},
		{name: "CSRF header matches cookie", cookies: append([]*http.Cookie{csrfCookie}, session...), header: csrf, want: http.StatusCreated},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request{
				method: "POST", path: "/api/v1/clients", body: fmt.Sprintf(`{"name":"Session client %d"}`, i),
				cookies: tt.cookies, header: http.Header{},
			}
			if tt.header != "" {
				r.header.Set(access.CSRFHeader, tt.header)
			}
			res := h.do(t, r).want(t, tt.want)
			if tt.want == http.StatusForbidden && !strings.Contains(res.errorBody(t)["error"], "CSRF") {
				t.Errorf("error = %s, want it to mention CSRF", res.body)
			}
		})
	}

	t.Run("API token needs no CSRF token", func(t *testing.T) {
		h.as(t, store.RoleAdmin, "POST", "/api/v1/clients", `{"name":"Token client"}`).want(t, http.StatusCreated)
	})

	t.Run("ended session", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/logout", nil)
		r.AddCookie(session[0])
		if err := h.authn.EndSession(ctx, httptest.NewRecorder(), r); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		h.do(t, request{method: "GET", path: "/api/v1/me", cookies: session}).want(t, http.StatusUnauthorized)
	})
}

func testRequestBodies(t *testing.T, h *harness) {
	big := `{"name":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`
	tests := []struct {
		name        string
		body        string
		contentType string
		want        int
		wantField   string
	}{
		{name: "valid", body: `{"name":"Body Co"}`, want: http.StatusCreated},
		{name: "charset parameter", body: `{"name":"Charset Co"}`, contentType: "application/json; charset=utf-8", want: http.StatusCreated},
		{name: "malformed JSON", body: `{"name":`, want: http.StatusBadRequest},
		{name: "not JSON", body: `name=Acme`, want: http.StatusBadRequest},
		{name: "unknown field", body: `{"name":"Extra Co","owner":"me"}`, want: http.StatusBadRequest},
		{name: "wrong type", body: `{"name":42}`, want: http.StatusBadRequest},
		{name: "two values", body: `{"name":"One"} {"name":"Two"}`, want: http.StatusBadRequest},
		{name: "array", body: `[{"name":"Array Co"}]`, want: http.StatusBadRequest},
		{name: "wrong content type", body: `{"name":"Text Co"}`, contentType: "text/plain", want: http.StatusUnsupportedMediaType},
		{name: "form content type", body: `name=Form+Co`, contentType: "application/x-www-form-urlencoded", want: http.StatusUnsupportedMediaType},
		{name: "too large", body: big, want: http.StatusRequestEntityTooLarge},
		{name: "empty name", body: `{"name":""}`, want: http.StatusBadRequest, wantField: "name"},
		{name: "missing name", body: `{}`, want: http.StatusBadRequest, wantField: "name"},
		{name: "blank name", body: `{"name":"   "}`, want: http.StatusBadRequest, wantField: "name"},
		{name: "control character", body: `{"name":"Bell\u0007"}`, want: http.StatusBadRequest, wantField: "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, request{
				method: "POST", path: "/api/v1/clients", body: tt.body, contentType: tt.contentType, token: h.tokens[store.RoleOwner],
			}).want(t, tt.want)
			if tt.want >= 400 {
				if got := res.errorBody(t)["field"]; got != tt.wantField {
					t.Errorf(`"field" = %q, want %q (body %s)`, got, tt.wantField, res.body)
				}
			}
		})
	}
	t.Run("empty body", func(t *testing.T) {
		// No body at all, not even a Content-Type.
		res := h.as(t, store.RoleOwner, "POST", "/api/v1/clients", "").want(t, http.StatusBadRequest)
		res.errorBody(t)
	})
	t.Run("no content type", func(t *testing.T) {
		// curl -d without -H still works: a missing Content-Type is JSON.
		req, err := http.NewRequestWithContext(t.Context(), "POST", h.URL+"/api/v1/clients", strings.NewReader(`{"name":"Bare Co"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+h.tokens[store.RoleOwner])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Errorf("POST without Content-Type: status = %d, want %d", res.StatusCode, http.StatusCreated)
		}
	})
	t.Run("created client", func(t *testing.T) {
		res := h.as(t, store.RoleOwner, "POST", "/api/v1/clients", `{"name":"  Spaced Co  "}`).want(t, http.StatusCreated)
		c := decode[store.Client](t, res)
		if c.Name != "Spaced Co" || c.ID == "" || c.CreatedAt.IsZero() {
			t.Errorf("created client = %+v, want name %q with an ID and creation time", c, "Spaced Co")
		}
		got := decode[store.Client](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/clients/"+c.ID, "").want(t, http.StatusOK))
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("GET the created client (-created +got):\n%s", diff)
		}
	})
	t.Run("created site", func(t *testing.T) {
		res := h.as(t, store.RoleAdmin, "POST", "/api/v1/clients/"+h.globex.ID+"/sites", `{"name":"Lab"}`).want(t, http.StatusCreated)
		s := decode[store.Site](t, res)
		if s.Name != "Lab" || s.ClientID != h.globex.ID || s.ClientName != "Globex" {
			t.Errorf("created site = %+v, want Lab in Globex", s)
		}
		res = h.as(t, store.RoleAdmin, "POST", "/api/v1/clients/"+h.globex.ID+"/sites", `{"name":""}`).want(t, http.StatusBadRequest)
		if got := res.errorBody(t)["field"]; got != "name" {
			t.Errorf(`site with empty name: "field" = %q, want "name"`, got)
		}
	})
}

func testConflicts(t *testing.T, h *harness) {
	tests := []struct {
		name, path, body string
	}{
		{"client", "/api/v1/clients", `{"name":"Acme"}`},
		{"client other case", "/api/v1/clients", `{"name":"ACME"}`},
		{"site", "/api/v1/clients/" + h.acme.ID + "/sites", `{"name":"HQ"}`},
		{"site other case", "/api/v1/clients/" + h.acme.ID + "/sites", `{"name":"hq"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.as(t, store.RoleOwner, "POST", tt.path, tt.body).want(t, http.StatusConflict).errorBody(t)
		})
	}
	// The same site name in another client is fine.
	h.as(t, store.RoleOwner, "POST", "/api/v1/clients/"+h.globex.ID+"/sites", `{"name":"HQ"}`).want(t, http.StatusCreated)
}

func testNotFound(t *testing.T, h *harness) {
	unknown := store.NewID()
	tests := []endpoint{
		{"GET", "/api/v1/clients/" + unknown, ""},
		{"GET", "/api/v1/clients/" + unknown + "/sites", ""},
		{"POST", "/api/v1/clients/" + unknown + "/sites", `{"name":"Ghost"}`},
		{"GET", "/api/v1/sites/" + unknown, ""},
		{"GET", "/api/v1/sites/" + unknown + "/enrollment-tokens", ""},
		{"POST", "/api/v1/sites/" + unknown + "/enrollment-tokens", `{}`},
		{"POST", "/api/v1/enrollment-tokens/" + unknown + "/revoke", ""},
		{"GET", "/api/v1/agents/" + unknown, ""},
		{"GET", "/api/v1/agents/not-even-a-uuid", ""},
	}
	for _, e := range tests {
		t.Run(route(e), func(t *testing.T) {
			h.as(t, store.RoleOwner, e.method, e.path, e.body).want(t, http.StatusNotFound).errorBody(t)
		})
	}
}

func testUnknownEndpoint(t *testing.T, h *harness) {
	tests := []struct {
		method, path, token string
	}{
		{"GET", "/api/v1/x", h.tokens[store.RoleOwner]},
		{"POST", "/api/v1/x", h.tokens[store.RoleOwner]},
		{"GET", "/api/v1/clients/a/b/c", h.tokens[store.RoleOwner]},
		{"GET", "/api/v2/status", h.tokens[store.RoleOwner]},
		{"GET", "/api/v1/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := h.do(t, request{method: tt.method, path: tt.path, token: tt.token}).want(t, http.StatusNotFound)
			if got := res.errorBody(t)["error"]; !strings.Contains(got, tt.path) {
				t.Errorf("error = %q, want it to name %s", got, tt.path)
			}
		})
	}
	// A known endpoint called with a method it does not take.
	res := h.do(t, request{method: "DELETE", path: "/api/v1/clients/" + h.acme.ID, token: h.tokens[store.RoleOwner]}).want(t, http.StatusMethodNotAllowed)
	if allow := res.header.Get("Allow"); !strings.Contains(allow, "GET") || strings.Contains(allow, "DELETE") {
		t.Errorf("Allow = %q, want the client's methods, GET among them", allow)
	}
	if got := res.errorBody(t)["error"]; !strings.Contains(got, "DELETE is not allowed") {
		t.Errorf("error = %q, want it to say DELETE is not allowed", got)
	}
	// Nothing was deleted.
	h.as(t, store.RoleOwner, "GET", "/api/v1/clients/"+h.acme.ID, "").want(t, http.StatusOK)
}
