package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/timeseries"
)

// testEnv is the dashboard of a real server (servertest), with the
// server's database and services at hand for seeding.
type testEnv struct {
	t        testing.TB
	srv      *servertest.Server
	db       *store.DB
	mgr      *manage.Service
	bus      bus.Bus
	series   *timeseries.Store
	agentDir string
	users    map[store.Role]int
	secrets  map[string]string // agent ID → secret, for connect
}

const testPublicURL = "http://steward.test:8080"

// envOptions are the server options of every dashboard test: agent
// binaries in a directory of the test's, a public URL that is neither
// loopback nor the listener's, and a heartbeat longer than a test (fake
// agents held up on a loaded machine must not be closed as silent).
func envOptions(t testing.TB) servertest.Options {
	return servertest.Options{AgentDir: t.TempDir(), PublicURL: testPublicURL, Heartbeat: 10 * time.Second}
}

// newEnv wraps a started server.
func newEnv(t testing.TB, s *servertest.Server) *testEnv {
	t.Helper()
	return &testEnv{
		t: t, srv: s, db: s.DB(), mgr: s.Manage, bus: s.Bus(),
		series:   timeseries.New(s.DB(), slog.New(slog.DiscardHandler), nil),
		agentDir: s.Options.AgentDir, users: map[store.Role]int{}, secrets: map[string]string{},
	}
}

// newSQLiteEnv starts a server on a fresh SQLite database, for pages whose
// subject is not the storage.
func newSQLiteEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnv(t, servertest.Start(t, envOptions(t)))
}

// eachEnv runs fn on a fresh server per database engine (SQLite, and
// PostgreSQL when configured), for pages whose subject is the storage.
func eachEnv(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Helper()
	servertest.Each(t, envOptions(t), func(t *testing.T, s *servertest.Server) { fn(t, newEnv(t, s)) })
}

const testPassword = "correct horse battery"

// user creates an account with the given role, as the console would. The
// first of each role is <role>@example.com, later ones <role>-<n>@….
func (e *testEnv) user(role store.Role) store.User {
	e.t.Helper()
	e.users[role]++
	email := string(role) + "@example.com"
	if n := e.users[role]; n > 1 {
		email = fmt.Sprintf("%s-%d@example.com", role, n)
	}
	u, err := e.mgr.CreateUser(context.Background(), access.Console(), email, testPassword, role)
	if err != nil {
		e.t.Fatalf("create %s user: %v", role, err)
	}
	return u
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each one.
type browser struct {
	t    testing.TB
	e    *testEnv
	c    *http.Client
	base *url.URL
}

func (e *testEnv) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	base, _ := url.Parse(e.srv.URL)
	return &browser{t: e.t, e: e, base: base, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signedIn returns a browser logged in as a new user of role.
func (e *testEnv) signedIn(role store.Role) *browser {
	e.t.Helper()
	u := e.user(role)
	b := e.browser()
	if res := b.login(u.Email, testPassword, ""); res.status != http.StatusSeeOther {
		e.t.Fatalf("login as %s: status %d, want 303\n%s", role, res.status, res.body)
	}
	return b
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("read %s %s: %v", req.Method, req.URL, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (b *browser) get(path string, headers ...string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// csrf returns the browser's CSRF token, fetching a page to get one.
func (b *browser) csrf() string {
	b.t.Helper()
	for _, c := range b.c.Jar.Cookies(b.base) {
		if c.Name == "steward_csrf" {
			return c.Value
		}
	}
	b.get("/login")
	for _, c := range b.c.Jar.Cookies(b.base) {
		if c.Name == "steward_csrf" {
			return c.Value
		}
	}
	b.t.Fatal("no CSRF cookie after GET /login")
	return ""
}

// post submits a form with the CSRF token, as the dashboard's forms do.
func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set(access.CSRFField, b.csrf())
	return b.postRaw(path, form)
}

// postRaw submits a form as given, without adding a CSRF token.
func (b *browser) postRaw(path string, form url.Values) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) login(email, password, next string) response {
	b.t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	if next != "" {
		form.Set("next", next)
	}
	return b.post("/login", form)
}

// fixture is a small fleet: one client, one site, one reusable token.
type fixture struct {
	client store.Client
	site   store.Site
	token  string // enrollment secret
}

func (e *testEnv) fixture(clientName, siteName string) fixture {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.mgr.CreateClient(ctx, access.Console(), clientName)
	if err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	s, err := e.mgr.CreateSite(ctx, access.Console(), c.ID, siteName)
	if err != nil {
		e.t.Fatalf("create site: %v", err)
	}
	tok, _, err := e.mgr.CreateEnrollmentToken(ctx, access.Console(), s.ID, 24*time.Hour, 0)
	if err != nil {
		e.t.Fatalf("create token: %v", err)
	}
	return fixture{client: c, site: s, token: tok}
}

// enroll adds an agent with facts to the fixture's site, as the
// enrollment endpoint would (directly in the database: fleets of a
// hundred are seeded fast), keeping its secret for connect.
func (e *testEnv) enroll(f fixture, facts protocol.Facts) store.Agent {
	e.t.Helper()
	secret := auth.NewSecret("")
	a, err := e.db.Enroll(context.Background(), auth.HashSecret(f.token), store.NewAgent{
		SecretHash: auth.HashSecret(secret), Facts: facts, IP: "192.0.2.1",
	})
	if err != nil {
		e.t.Fatalf("enroll %s: %v", facts.Hostname, err)
	}
	e.secrets[a.ID] = secret
	return a
}

// connect connects the agent to the server as a live fake agent saying
// hello with the facts (it stays online until the test ends) and waits
// until the database has it online.
func (e *testEnv) connect(a store.Agent, facts protocol.Facts) *servertest.Agent {
	e.t.Helper()
	secret, ok := e.secrets[a.ID]
	if !ok {
		e.t.Fatalf("connect %s: not enrolled by this test", a.Hostname)
	}
	ag := e.srv.Connect(e.t, a.ID, secret, servertest.AgentOptions{Facts: facts})
	e.srv.WaitPresence(e.t, a.ID, true)
	return ag
}

func linuxFacts(host string) protocol.Facts {
	return protocol.Facts{
		Hostname: host, OS: "linux", OSName: "ubuntu", OSVersion: "24.04", Arch: "amd64",
		Kernel: "6.8.0-45-generic", AgentVersion: "0.1.0", BootTime: time.Now().Add(-50 * time.Hour),
		IPAddresses: []string{"10.0.0.5", "fe80::1"}, Users: []string{"alice"},
	}
}

var hostRE = regexp.MustCompile(`<td class="host"><a href="/agents/[^"]+">([^<]*)</a>`)

// hostnames returns the hostnames of the agents table rows, in order.
func hostnames(body string) []string {
	out := []string{}
	for _, m := range hostRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func mustContain(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

func mustNotContain(t testing.TB, what, body string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			t.Errorf("%s contains %q, want it absent", what, w)
		}
	}
}

func wantStatus(t testing.TB, what string, res response, want int) {
	t.Helper()
	if res.status != want {
		body := res.body
		if len(body) > 2000 {
			body = body[:2000] + "…"
		}
		t.Fatalf("%s: status %d, want %d\n%s", what, res.status, want, body)
	}
}

func location(res response) string { return res.header.Get("Location") }

// regexpFind returns the first submatch of pattern in s, or "".
func regexpFind(pattern, s string) string {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if len(m) < 2 {
		return ""
	}
	return m[1]
}

// regexpAll returns every submatch of every match of pattern in s.
func regexpAll(pattern, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1:]...)
	}
	return out
}

func consolePrincipal() access.Principal { return access.Console() }
