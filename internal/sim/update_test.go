package sim_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/sim"
	"github.com/steward-rmm/steward/internal/store"
)

// publishRelease signs size random bytes as version for linux/amd64 and
// publishes them.
func publishRelease(t *testing.T, s *servertest.Server, version string, size int) store.Release {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	data := make([]byte, size)
	rand.Read(data)
	sum := sha256.Sum256(data)
	signed, err := protocol.SignRelease(priv, protocol.ReleaseStatement{Version: version, OS: "linux", Arch: "amd64",
		Size: int64(size), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	key := protocol.NewReleaseKey(priv.Public().(ed25519.PublicKey))
	rel, err := s.Manage.PublishRelease(t.Context(), access.Console(), []protocol.ReleaseKey{key}, signed, "stable", "", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("publish %s: %v", version, err)
	}
	return rel
}

// TestUpdates offers a release to simulated agents, which download it,
// report their steps and come back as the new version, confirmed; then a
// release they are told fails is rolled back on every one, and an offer of
// an older version is refused.
func TestUpdates(t *testing.T) {
	const n, size = 20, 256 << 10
	s := servertest.Start(t, servertest.Options{})
	site := s.NewSite(t)
	r := start(t, sim.Config{Servers: []string{s.URL}, Token: s.EnrollmentToken(t, site.ID), Agents: n,
		Version: "1.0.0", Platform: "linux/amd64",
		Update: sim.UpdateConfig{TimeScale: 0.001, Download: true, FailVersions: []string{"1.2.0"}}})
	r.waitConnected(t, n)
	good := publishRelease(t, s, "1.1.0", size)
	offer := func(releaseID string) {
		t.Helper()
		s.As(t, store.RoleAdmin, "POST", "/api/v1/updates", fmt.Sprintf(`{"site_id":%q,"release_id":%q,"spread":"10s"}`, site.ID, releaseID)).
			Want(t, http.StatusAccepted)
	}
	offer(good.ID)
	st := r.waitStats(t, "every update confirmed", func(st sim.Stats) bool { return st.Updates.Confirmed == n })
	if st.Updates.Downloaded != n*size || st.Updates.Offered != n || st.Updates.Swapped != n || st.Updates.Failed != 0 {
		t.Errorf("update stats = %+v, want %d offered, swapped and confirmed, %d bytes downloaded", st.Updates, n, n*size)
	}
	servertest.Eventually(t, "the server's history confirmed on every agent", func() bool {
		counts, err := s.DB().ReleaseStepCounts(t.Context(), good.ID)
		return err == nil && counts[protocol.UpdateConfirmed] == n
	})
	agents, _, err := s.DB().ListAgents(t.Context(), store.AgentFilter{}, store.Page{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if a.Version != "1.1.0" {
			t.Errorf("agent %s runs %q, want 1.1.0", a.Hostname, a.Version)
		}
	}

	bad := publishRelease(t, s, "1.2.0", size)
	offer(bad.ID)
	r.waitStats(t, "every update of 1.2.0 failed", func(st sim.Stats) bool { return st.Updates.Failed == n })
	servertest.Eventually(t, "the server's history rolled back on every agent", func() bool {
		counts, err := s.DB().ReleaseStepCounts(t.Context(), bad.ID)
		return err == nil && counts[protocol.UpdateRolledBack] == n
	})

	sum := r.stop(t)
	if sum.Updates.Confirmed != n || sum.Updates.Failed != n || sum.Updates.Lost != 0 || sum.Errors != 0 {
		t.Errorf("summary = %s; want %d confirmed, %d failed, no lost reports or connection errors", sum, n, n)
	}
}
