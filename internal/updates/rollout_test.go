package updates_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/updates"
)

func TestInRolloutStable(t *testing.T) {
	in := func(pct float64) int {
		n := 0
		for i := range 1000 {
			if updates.InRollout(fmt.Sprintf("agent-%d", i), "1.2.0", pct) {
				n++
			}
		}
		return n
	}
	if n := in(10); n < 60 || n > 140 {
		t.Errorf("10%% took %d of 1000 agents", n)
	}
	// Agents in at 10% stay in at 50%.
	for i := range 1000 {
		id := fmt.Sprintf("agent-%d", i)
		if updates.InRollout(id, "1.2.0", 10) && !updates.InRollout(id, "1.2.0", 50) {
			t.Fatalf("%s is in at 10%% but not at 50%%", id)
		}
	}
	if in(0) != 0 || in(100) != 1000 {
		t.Error("0% and 100% are not none and all")
	}
}

func setPolicy(t *testing.T, s *servertest.Server, level, target, doc string) {
	t.Helper()
	ctx := t.Context()
	p, err := s.Manage.CreatePolicy(ctx, access.Console(), manage.PolicyInput{Name: "p-" + level + "-" + target, Document: json.RawMessage(doc)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Manage.Assign(ctx, access.Console(), level, target, p.ID); err != nil {
		t.Fatal(err)
	}
}

// TestRollout offers a new release to the agents whose policy takes it,
// and halts it when too many fail.
func TestRollout(t *testing.T) {
	servertest.Each(t, servertest.Options{}, func(t *testing.T, s *servertest.Server) {
		auto := s.NewSite(t)
		manual := s.NewSite(t)
		setPolicy(t, s, store.LevelSite, manual.ID, `{"updates":{"auto":false}}`)
		// Halt after more than one failure.
		setPolicy(t, s, store.LevelDefault, "", `{"updates":{"halt":{"failed_agents":1}}}`)
		if r := s.As(t, store.RoleAdmin, "POST", "/api/v1/policies", `{"name":"bad window","document":{"updates":{"window":"someday 25:00"}}}`); r.Status != http.StatusBadRequest {
			t.Errorf("a bad update window was saved: %d %s", r.Status, r.Body)
		}

		secrets := map[string]string{}
		connect := func(siteID, host, version string) *servertest.Agent {
			id, secret := s.EnrollIn(t, siteID, host)
			secrets[id] = secret
			f := servertest.Facts(host)
			f.AgentVersion = version
			a := s.Connect(t, id, secret, servertest.AgentOptions{Facts: f})
			s.WaitPresence(t, id, true)
			return a
		}
		takers := []*servertest.Agent{connect(auto.ID, "auto-1", "0.1.0"), connect(auto.ID, "auto-2", "0.1.0"), connect(auto.ID, "auto-3", "v0.1.0")}
		dev := connect(auto.ID, "dev-1", "dev")
		held := connect(manual.ID, "manual-1", "0.1.0")

		rel := publish(t, s, "0.2.0", "linux", "amd64", "stable")
		if err := s.RunJob(t.Context(), "update-rollout"); err != nil {
			t.Fatal(err)
		}
		for _, a := range takers {
			cmd := a.Command(t)
			offer, err := protocol.DecodeUpdateOffer(cmd.Args)
			if err != nil || cmd.Name != protocol.CommandUpdate || offer.ReleaseID != rel.ID ||
				time.Duration(offer.Spread) != updates.RolloutSpread || time.Duration(offer.ConfirmDeadline) != protocol.DefaultConfirmDeadline {
				t.Fatalf("agent %s got %s %+v (%v)", a.ID, cmd.Name, offer, err)
			}
		}
		for _, a := range []*servertest.Agent{dev, held} {
			a.Sync(t) // nothing was queued before the sync's answer
		}
		// Offered once: a second run offers nothing more.
		if err := s.RunJob(t.Context(), "update-rollout"); err != nil {
			t.Fatal(err)
		}
		for _, a := range takers {
			a.Sync(t)
		}

		// Two of them fail: more than the policy's one, so it halts at the
		// second report, without waiting for the job's next run.
		for i, a := range takers[:2] {
			a.Send(t, protocol.TypeUpdateStatus, "", protocol.UpdateStatus{ReleaseID: rel.ID, FromVersion: "0.1.0", ToVersion: "0.2.0",
				Step: protocol.UpdateRolledBack, Reason: "crashed", At: time.Now().UTC()})
			a.Sync(t)
			got, err := s.DB().GetRelease(t.Context(), rel.ID)
			if want := []string{store.ReleaseActive, store.ReleaseHalted}[i]; err != nil || got.Status != want {
				t.Fatalf("after %d failures the release is %q (%v), want %s", i+1, got.Status, err, want)
			}
		}
		entries, _, _ := s.DB().ListAudit(t.Context(), store.AuditFilter{Action: "release.halt"}, store.Page{})
		if len(entries) != 1 || entries[0].Detail["reason"] == "" || entries[0].Detail["offers_cancelled"] != "1" {
			t.Errorf("halt audit %+v", entries)
		}
		// The third agent's offer, not taken yet, was called back: its
		// download is refused, and the job's next run halts nothing twice.
		if step, _ := s.DB().UpdateStep(t.Context(), takers[2].ID, rel.ID); step != store.UpdateCancelled {
			t.Errorf("the offer not taken yet is %q, want cancelled", step)
		}
		s.Do(t, servertest.Request{Method: "GET", Path: protocol.ReleaseFilePath + rel.ID,
			Header: http.Header{"Authorization": {protocol.FormatCredential(takers[2].ID, secrets[takers[2].ID])}}}).Want(t, http.StatusGone)
		if err := s.RunJob(t.Context(), "update-rollout"); err != nil {
			t.Fatal(err)
		}
		if entries, _, _ := s.DB().ListAudit(t.Context(), store.AuditFilter{Action: "release.halt"}, store.Page{}); len(entries) != 1 {
			t.Errorf("%d halt audit entries after the job ran again, want 1", len(entries))
		}
		// A new agent is not offered a halted release.
		late := connect(auto.ID, "auto-4", "0.1.0")
		if err := s.RunJob(t.Context(), "update-rollout"); err != nil {
			t.Fatal(err)
		}
		late.Sync(t)
	})
}
