package servertest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// User is a seeded user with an API token.
type User struct {
	store.User
	Password string
	Token    string
}

// Roles lists every role, most powerful first.
func Roles() []store.Role {
	return []store.Role{store.RoleOwner, store.RoleAdmin, store.RoleTechnician, store.RoleReadonly}
}

// UserPassword is the password of every seeded user.
const UserPassword = "correct horse battery"

// User returns the server's user of role (role@example.com), creating it
// with an API token on first use.
func (s *Server) User(t testing.TB, role store.Role) User {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[role]; ok {
		return u
	}
	ctx := testContext(t)
	u, err := s.Manage.CreateUser(ctx, access.Console(), string(role)+"@example.com", UserPassword, role)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", role, err)
	}
	tok, _, err := s.Manage.CreateAPIToken(ctx, access.Console(), u.ID, "servertest")
	if err != nil {
		t.Fatalf("CreateAPIToken(%s): %v", role, err)
	}
	s.users[role] = User{User: u, Password: UserPassword, Token: tok}
	return s.users[role]
}

// Client creates a client named name.
func (s *Server) Client(t testing.TB, name string) store.Client {
	t.Helper()
	c, err := s.Manage.CreateClient(testContext(t), access.Console(), name)
	if err != nil {
		t.Fatalf("CreateClient(%q): %v", name, err)
	}
	return c
}

// Site creates a site named name in the client.
func (s *Server) Site(t testing.TB, clientID, name string) store.Site {
	t.Helper()
	site, err := s.Manage.CreateSite(testContext(t), access.Console(), clientID, name)
	if err != nil {
		t.Fatalf("CreateSite(%q): %v", name, err)
	}
	return site
}

// NewSite creates a site of its own for one test, in a fresh client, so
// that nothing another test enrolled can be counted in it.
func (s *Server) NewSite(t testing.TB) store.Site {
	t.Helper()
	c := s.Client(t, "Client "+store.NewID())
	return s.Site(t, c.ID, "Site")
}

// EnrollmentToken creates an unlimited enrollment token for the site,
// valid for an hour.
func (s *Server) EnrollmentToken(t testing.TB, siteID string) string {
	t.Helper()
	tok, _, err := s.Manage.CreateEnrollmentToken(testContext(t), access.Console(), siteID, time.Hour, 0)
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return tok
}

// Facts returns plausible facts of a Linux host named hostname.
func Facts(hostname string) protocol.Facts {
	return protocol.Facts{
		Hostname: hostname, OS: "linux", OSName: "debian", OSVersion: "12", Arch: "amd64", Kernel: "6.1.0",
		AgentVersion: "0.1.0", IPAddresses: []string{"10.0.0.9"}, Users: []string{"root"},
		BootTime: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
}

// Enroll enrolls an agent through the real enrollment endpoint with the
// token and returns its credentials.
func (s *Server) Enroll(t testing.TB, token string, f protocol.Facts) (id, secret string) {
	t.Helper()
	body, err := json.Marshal(protocol.EnrollRequest{Token: token, Facts: f})
	if err != nil {
		t.Fatalf("encode enroll request: %v", err)
	}
	res := s.Do(t, Request{Method: "POST", Path: protocol.EnrollPath, Body: string(body)})
	if res.Status != http.StatusOK {
		t.Fatalf("enroll %s: status %d, body %s", f.Hostname, res.Status, res.Body)
	}
	var er protocol.EnrollResponse
	if err := json.Unmarshal(res.Body, &er); err != nil {
		t.Fatalf("enroll response %s: %v", res.Body, err)
	}
	return er.AgentID, er.AgentSecret
}

// EnrollIn enrolls an agent named hostname into the site with a token of
// its own.
func (s *Server) EnrollIn(t testing.TB, siteID, hostname string) (id, secret string) {
	t.Helper()
	return s.Enroll(t, s.EnrollmentToken(t, siteID), Facts(hostname))
}

// Agent reads an agent's row.
func (s *Server) Agent(t testing.TB, id string) store.Agent {
	t.Helper()
	a, err := s.DB().Agent(testContext(t), id)
	if err != nil {
		t.Fatalf("Agent(%s): %v", id, err)
	}
	return a
}

// Agents enrolls n agents named prefix-0 … into the site and connects each
// live with the options.
func (s *Server) Agents(t testing.TB, siteID, prefix string, n int, o AgentOptions) []*Agent {
	t.Helper()
	tok := s.EnrollmentToken(t, siteID)
	out := make([]*Agent, n)
	for i := range out {
		f := Facts(prefix + "-" + strconv.Itoa(i))
		id, secret := s.Enroll(t, tok, f)
		o := o
		o.Facts = f
		out[i] = s.Connect(t, id, secret, o)
	}
	return out
}

// WaitPresence waits until the server's database says the agent is online
// or offline: after an agent closes, the server may take a moment to
// handle the disconnect.
func (s *Server) WaitPresence(t testing.TB, agentID string, online bool) store.Agent {
	t.Helper()
	state := map[bool]string{true: "online", false: "offline"}[online]
	return Poll(t, "agent "+agentID+" to be "+state, func() store.Agent {
		return s.Agent(t, agentID)
	}, func(a store.Agent) bool { return a.Online == online })
}
