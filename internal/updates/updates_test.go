package updates_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

var releasePriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))

// publish stores a signed release of data through the manage service.
func publish(t *testing.T, s *servertest.Server, version, goos, goarch, channel string) store.Release {
	t.Helper()
	data := []byte("agent " + version + " " + goos + "/" + goarch)
	sum := sha256.Sum256(data)
	signed, err := protocol.SignRelease(releasePriv, protocol.ReleaseStatement{Version: version, OS: goos, Arch: goarch,
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	key := protocol.NewReleaseKey(releasePriv.Public().(ed25519.PublicKey))
	rel, err := s.Manage.PublishRelease(t.Context(), access.Console(), []protocol.ReleaseKey{key}, signed, channel, "", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

type summary struct {
	BatchID string         `json:"batch_id"`
	Offered int            `json:"offered"`
	Skipped map[string]int `json:"skipped"`
}

type agentUpdates struct {
	Channel store.UpdateChannel `json:"channel"`
	Updates []store.AgentUpdate `json:"updates"`
	History []store.UpdateEvent `json:"history"`
}

// TestUpdateNow offers a release to a connected agent, takes its steps,
// and confirms the new version in its next handshake.
func TestUpdateNow(t *testing.T) {
	servertest.Each(t, servertest.Options{}, func(t *testing.T, s *servertest.Server) {
		// By hand only: the automatic rollout must not offer first.
		setPolicy(t, s, store.LevelDefault, "", `{"updates":{"auto":false}}`)
		site := s.NewSite(t)
		id, secret := s.EnrollIn(t, site.ID, "upd-01")
		a := s.Connect(t, id, secret, servertest.AgentOptions{})
		s.WaitPresence(t, id, true)

		// Nothing to offer yet.
		sum := servertest.Decode[summary](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/agents/"+id+"/update", "").Want(t, http.StatusAccepted))
		if sum.Offered != 0 || sum.Skipped["no release for its channel and platform"] != 1 {
			t.Fatalf("update with no release: %+v", sum)
		}
		publish(t, s, "0.2.0", "linux", "amd64", "beta")
		publish(t, s, "0.1.5", "linux", "amd64", "stable")
		rel := publish(t, s, "0.3.0", "linux", "amd64", "stable")
		publish(t, s, "0.9.0", "windows", "amd64", "stable")

		s.As(t, store.RoleTechnician, "POST", "/api/v1/agents/"+id+"/update", "").Want(t, http.StatusForbidden)
		sum = servertest.Decode[summary](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/agents/"+id+"/update", `{"spread":"10m"}`).Want(t, http.StatusAccepted))
		if sum.Offered != 1 || sum.BatchID == "" {
			t.Fatalf("update now: %+v", sum)
		}
		cmd := a.Command(t)
		if cmd.Name != protocol.CommandUpdate {
			t.Fatalf("command %s, want update", cmd.Name)
		}
		offer, err := protocol.DecodeUpdateOffer(cmd.Args)
		if err != nil {
			t.Fatal(err)
		}
		// The newest stable release for its platform: not beta's, not the
		// Windows one, not the older stable one.
		if offer.ReleaseID != rel.ID || offer.Release.Statement.Version != "0.3.0" || time.Duration(offer.Spread) != 10*time.Minute {
			t.Fatalf("offer %+v", offer)
		}
		key := protocol.NewReleaseKey(releasePriv.Public().(ed25519.PublicKey))
		if err := protocol.VerifyRelease([]protocol.ReleaseKey{key}, offer.Release); err != nil {
			t.Fatalf("the offered release does not verify: %v", err)
		}
		a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK})
		// Stored before the agent goes: a command still "sent" is offered
		// again on the next connection.
		servertest.Eventually(t, "the update command stored done", func() bool {
			var c struct {
				State string `json:"state"`
			}
			json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/commands/"+cmd.CommandID, "").Body, &c)
			return c.State == "done"
		})
		for _, step := range []string{protocol.UpdateDownloading, protocol.UpdateVerified, protocol.UpdateSwapped} {
			a.Send(t, protocol.TypeUpdateStatus, "", protocol.UpdateStatus{ReleaseID: rel.ID, FromVersion: "0.1.0", ToVersion: "0.3.0",
				Step: step, At: time.Now().UTC()})
		}
		servertest.Eventually(t, "the swap is recorded", func() bool {
			u := servertest.Decode[agentUpdates](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/updates", "").Want(t, http.StatusOK))
			return len(u.Updates) == 1 && u.Updates[0].Step == protocol.UpdateSwapped
		})
		a.Close()
		s.WaitPresence(t, id, false)

		// The new version comes back and is confirmed in its welcome.
		f := servertest.Facts("upd-01")
		f.AgentVersion = "0.3.0"
		f.Update = &protocol.PendingUpdate{ReleaseID: rel.ID, FromVersion: "0.1.0", ToVersion: "0.3.0"}
		b := s.Connect(t, id, secret, servertest.AgentOptions{Facts: f})
		if b.Welcome.UpdateConfirmed != rel.ID {
			t.Fatalf("welcome confirms %q, want %s", b.Welcome.UpdateConfirmed, rel.ID)
		}
		u := servertest.Decode[agentUpdates](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/updates", "").Want(t, http.StatusOK))
		var steps []string
		for i := len(u.History) - 1; i >= 0; i-- {
			steps = append(steps, u.History[i].Step)
		}
		if got := strings.Join(steps, ","); got != "offered,downloading,verified,swapped,confirmed" {
			t.Errorf("history %s: %+v", got, u.History)
		}
		if u.Channel.Channel != "stable" || u.Updates[0].Step != protocol.UpdateConfirmed {
			t.Errorf("updates %+v", u)
		}
		// The watchdog, still on the previous version, then on the new one.
		roles := func(watchdogVersion string) (map[string]string, bool) {
			t.Helper()
			now := time.Now().UTC()
			body, _ := json.Marshal(protocol.WatchdogReport{At: now, Version: watchdogVersion,
				Agent: protocol.AgentHealth{State: protocol.AgentRunning, Since: now}})
			s.Do(t, servertest.Request{Method: "POST", Path: protocol.WatchdogPath, Body: string(body),
				Header: http.Header{"Authorization": {protocol.FormatCredential(id, secret)}}}).Want(t, http.StatusNoContent)
			var r struct {
				Roles map[string]string `json:"roles"`
				Agree bool              `json:"roles_agree"`
			}
			json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/updates", "").Want(t, http.StatusOK).Body, &r)
			return r.Roles, r.Agree
		}
		if got, agree := roles("0.1.0"); agree || got["watchdog"] != "0.1.0" || got["agent"] != "0.3.0" {
			t.Errorf("watchdog on 0.1.0: roles %v agree %v", got, agree)
		}
		if got, agree := roles("0.3.0"); !agree || got["watchdog"] != "0.3.0" {
			t.Errorf("watchdog on 0.3.0: roles %v agree %v", got, agree)
		}
		// A late report of an earlier step does not undo the confirmation.
		b.Send(t, protocol.TypeUpdateStatus, "", protocol.UpdateStatus{ReleaseID: rel.ID, Step: protocol.UpdateSwapped, At: time.Now().UTC()})
		b.Sync(t)
		var progress struct {
			Steps map[string]int `json:"steps"`
			Total int            `json:"total"`
		}
		json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/releases/"+rel.ID+"/agents", "").Want(t, http.StatusOK).Body, &progress)
		if progress.Total != 1 || progress.Steps["confirmed"] != 1 {
			t.Errorf("release progress %+v", progress)
		}
		// A hello that claims an update it does not run is not confirmed.
		b.Close()
		s.WaitPresence(t, id, false)
		f.AgentVersion = "0.1.0"
		c := s.Connect(t, id, secret, servertest.AgentOptions{Facts: f})
		if c.Welcome.UpdateConfirmed != "" {
			t.Errorf("confirmed an update the agent does not run")
		}
		// It says it runs 0.1.0 again, so a site-wide update offers it 0.3.0.
		sum = servertest.Decode[summary](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/updates", `{"site_id":"`+site.ID+`"}`).Want(t, http.StatusAccepted))
		if sum.Offered != 1 {
			t.Errorf("site update: %+v", sum)
		}
		if r := s.As(t, store.RoleAdmin, "POST", "/api/v1/updates", `{"site_id":"`+site.ID+`","client_id":"x"}`); r.Status != http.StatusBadRequest {
			t.Errorf("two selections: %d %s", r.Status, r.Body)
		}
		if r := s.As(t, store.RoleAdmin, "POST", "/api/v1/updates", `{"agent_ids":["`+id+`"],"release_id":"nope"}`); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "release_id") {
			t.Errorf("unknown release: %d %s", r.Status, r.Body)
		}
		entries, _, _ := s.DB().ListAudit(t.Context(), store.AuditFilter{Action: "update.offer"}, store.Page{})
		if len(entries) != 2 {
			t.Errorf("%d update.offer audit entries, want 2", len(entries))
		}
	})
}

// TestRollbackOffer: an older release goes to agents on newer versions
// only when asked, and only with its signed rollback instruction.
func TestRollbackOffer(t *testing.T) {
	key := protocol.NewReleaseKey(releasePriv.Public().(ed25519.PublicKey))
	servertest.Each(t, servertest.Options{ReleaseKeys: []string{key.String()}}, func(t *testing.T, s *servertest.Server) {
		setPolicy(t, s, store.LevelDefault, "", `{"updates":{"auto":false}}`)
		site := s.NewSite(t)
		id, secret := s.EnrollIn(t, site.ID, "back-01")
		a := s.Connect(t, id, secret, servertest.AgentOptions{}) // runs 0.1.0
		s.WaitPresence(t, id, true)
		old := publish(t, s, "0.0.9", "linux", "amd64", "stable")
		body := `{"release_id":"` + old.ID + `"}`
		sum := servertest.Decode[summary](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/agents/"+id+"/update", body).Want(t, http.StatusAccepted))
		if sum.Offered != 0 {
			t.Fatalf("an older release was offered without a rollback: %+v", sum)
		}
		rollback := `{"release_id":"` + old.ID + `","rollback":true}`
		if r := s.As(t, store.RoleAdmin, "POST", "/api/v1/agents/"+id+"/update", rollback); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "no signed rollback instruction") {
			t.Fatalf("rollback without an instruction: %d %s", r.Status, r.Body)
		}
		data := []byte("agent 0.0.9 linux/amd64")
		sha := sha256.Sum256(data)
		st := protocol.ReleaseStatement{Version: "0.0.9", OS: "linux", Arch: "amd64", Size: int64(len(data)), SHA256: hex.EncodeToString(sha[:])}
		wrong := st
		wrong.Version = "0.0.8"
		bad, _ := protocol.SignRollback(releasePriv, wrong)
		if r := s.As(t, store.RoleAdmin, "POST", "/api/v1/releases/"+old.ID+"/rollback", string(bad.Encode())); r.Status != http.StatusBadRequest {
			t.Errorf("a rollback instruction for another release was attached: %d %s", r.Status, r.Body)
		}
		rb, _ := protocol.SignRollback(releasePriv, st)
		s.As(t, store.RoleTechnician, "POST", "/api/v1/releases/"+old.ID+"/rollback", string(rb.Encode())).Want(t, http.StatusForbidden)
		got := servertest.Decode[store.Release](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/releases/"+old.ID+"/rollback", string(rb.Encode())).Want(t, http.StatusOK))
		if !got.RollbackAllowed {
			t.Fatal("rollback_allowed is false after attaching the instruction")
		}
		sum = servertest.Decode[summary](t, s.As(t, store.RoleAdmin, "POST", "/api/v1/agents/"+id+"/update", rollback).Want(t, http.StatusAccepted))
		if sum.Offered != 1 {
			t.Fatalf("rollback offer: %+v", sum)
		}
		cmd := a.Command(t)
		offer, err := protocol.DecodeUpdateOffer(cmd.Args)
		if err != nil || offer.Rollback == nil {
			t.Fatalf("offer %+v (%v), want it to carry the rollback instruction", offer, err)
		}
		if err := protocol.VerifyRollback([]protocol.ReleaseKey{key}, *offer.Rollback, offer.Release.Statement); err != nil {
			t.Errorf("the offered rollback does not verify: %v", err)
		}
	})
}
