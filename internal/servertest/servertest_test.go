package servertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// The harness drives the real server end to end: a user of every role,
// enrollment over HTTP, live agents answering a command created through
// the API, presence seen after a disconnect, and a restart on the same
// data.
func TestServer(t *testing.T) {
	servertest.Each(t, servertest.Options{}, func(t *testing.T, s *servertest.Server) {
		for _, r := range servertest.Roles() {
			me := servertest.Decode[struct {
				User store.User `json:"user"`
				Via  string     `json:"via"`
			}](t, s.As(t, r, "GET", "/api/v1/me", "").Want(t, http.StatusOK))
			if me.User.Role != r || me.Via != "api_token" {
				t.Errorf("GET /api/v1/me as %s = %+v, want that role via api_token", r, me)
			}
		}
		s.Do(t, servertest.Request{Method: "GET", Path: "/api/v1/me"}).Want(t, http.StatusUnauthorized)

		site := s.NewSite(t)
		agents := s.Agents(t, site.ID, "web", 2, servertest.AgentOptions{Answer: servertest.AnswerPings})
		for _, a := range agents {
			s.WaitPresence(t, a.ID, true)
		}
		if n := s.Metric(t, "steward_agents_connected", nil); n != 2 {
			t.Errorf("steward_agents_connected = %g, want 2", n)
		}
		if n := s.Metric(t, "steward_no_such_metric", nil); n != -1 {
			t.Errorf("an unknown metric = %g, want -1", n)
		}
		res := s.As(t, store.RoleTechnician, "POST", "/api/v1/commands", `{"name":"ping","target":{"site_id":"`+site.ID+`"}}`).Want(t, http.StatusCreated)
		batch := servertest.Decode[store.BatchStatus](t, res)
		servertest.Poll(t, "both pings answered", func() store.BatchStatus {
			return servertest.Decode[store.BatchStatus](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/command-batches/"+batch.ID, "").Want(t, http.StatusOK))
		}, func(b store.BatchStatus) bool { return b.States[store.CommandDone] == 2 })
		for _, a := range agents {
			if n := a.Answered.Load(); n != 1 {
				t.Errorf("agent %s answered %d pings, want 1", a.ID, n)
			}
		}

		// A command the Answer function declines reaches the test.
		id, secret := s.EnrollIn(t, site.ID, "db-1")
		db := s.Connect(t, id, secret, servertest.AgentOptions{})
		s.As(t, store.RoleTechnician, "POST", "/api/v1/agents/"+id+"/commands", `{"name":"ping"}`).Want(t, http.StatusCreated)
		if c := db.Command(t); c.Name != protocol.CommandPing {
			t.Errorf("command = %+v, want a ping", c)
		}
		db.Sync(t)

		agents[0].Close()
		s.WaitPresence(t, agents[0].ID, false)
		agents[1].Kill()
		s.WaitPresence(t, agents[1].ID, false)
	})
}

func TestRawAgent(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	id, secret := s.EnrollIn(t, s.NewSite(t).ID, "raw")
	a := s.Dial(t, id, secret)
	a.SendRaw(t, []byte(`{"type":"heartbeat"`))
	env := a.Next(t)
	if env.Type != protocol.TypeError {
		t.Fatalf("answer to a broken message before hello = %s %s, want an error", env.Type, env.Data)
	}
	if _, _, err := s.DialControl(t, protocol.FormatCredential(id, "wrong")); err == nil {
		t.Error("dial with a wrong secret succeeded")
	}
}

func TestRestartKeepsData(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	c := s.Client(t, "Acme")
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	again := servertest.Start(t, servertest.Options{DataDir: s.Options.DataDir})
	got, err := again.DB().Client(t.Context(), c.ID)
	if err != nil || got.Name != "Acme" {
		t.Errorf("client after restart = %+v, %v; want Acme", got, err)
	}
	// Run logs the link as it starts serving, which may be a moment after
	// Start returns.
	want := again.URL + "/setup?token="
	servertest.Eventually(t, "the log to offer "+want, func() bool { return strings.Contains(again.Logs(), want) })
}
