package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// A policy that breaks its scope's effective policy across levels is
// refused with a field error naming the scope and the inherited value,
// both when assigned and when saved, and nothing is stored or pushed.
func TestEffectivePolicyRefused(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	site := s.NewSite(t)
	id, secret := s.EnrollIn(t, site.ID, "web-01")
	agent := s.Connect(t, id, secret, servertest.AgentOptions{})
	agent.Sync(t)

	type fieldErrors struct {
		Error  string `json:"error"`
		Fields []struct {
			Path, Message string
		} `json:"fields"`
	}
	wantRefused := func(what string, res servertest.Response) {
		t.Helper()
		e := servertest.Decode[fieldErrors](t, res.Want(t, http.StatusBadRequest))
		if len(e.Fields) != 1 || e.Fields[0].Path != "thresholds.cpu.clear" ||
			!strings.Contains(e.Fields[0].Message, "thresholds.cpu.trigger is 90 from the built-in default") ||
			!strings.Contains(e.Fields[0].Message, `site "`) {
			t.Errorf("%s: %+v, want one error on thresholds.cpu.clear naming the site and the built-in trigger of 90", what, e)
		}
	}

	pol := servertest.Decode[store.Policy](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/policies",
		`{"name":"Quiet","document":{"thresholds":{"cpu":{"clear":95}}}}`).Want(t, http.StatusCreated))
	wantRefused("assign", s.As(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments",
		`{"level":"site","target_id":"`+site.ID+`","policy_id":"`+pol.ID+`"}`))

	ok := servertest.Decode[store.Policy](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/policies",
		`{"name":"Fine","document":{"thresholds":{"cpu":{"clear":85}}}}`).Want(t, http.StatusCreated))
	s.As(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments",
		`{"level":"site","target_id":"`+site.ID+`","policy_id":"`+ok.ID+`"}`).Want(t, http.StatusOK)
	if env := agent.Next(t); env.Type != "policy" {
		t.Fatalf("after a valid assignment the agent got %s %s, want the policy", env.Type, env.Data)
	}
	wantRefused("save", s.As(t, store.RoleAdmin, "PUT", "/api/v1/policies/"+ok.ID,
		`{"name":"Fine","document":{"thresholds":{"cpu":{"clear":95}}}}`))
	// Nothing was pushed for the refused save: the next message is the
	// answer to this heartbeat.
	agent.Sync(t)
}
