package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestEnrollmentTokenState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		tok  store.EnrollmentToken
		want string
	}{
		{store.EnrollmentToken{ExpiresAt: now.Add(time.Hour), MaxUses: 0, Uses: 1000}, "active"},
		{store.EnrollmentToken{ExpiresAt: now.Add(time.Hour), MaxUses: 3, Uses: 2}, "active"},
		{store.EnrollmentToken{ExpiresAt: now.Add(time.Hour), MaxUses: 3, Uses: 3}, "used up"},
		{store.EnrollmentToken{ExpiresAt: now, MaxUses: 3}, "expired"},
		{store.EnrollmentToken{ExpiresAt: now.Add(-time.Hour), MaxUses: 3, Uses: 3}, "expired"},
		{store.EnrollmentToken{ExpiresAt: now.Add(-time.Hour), RevokedAt: now.Add(-2 * time.Hour)}, "revoked"},
		{store.EnrollmentToken{ExpiresAt: now.Add(time.Hour), RevokedAt: now}, "revoked"},
	}
	for _, tt := range tests {
		if got := tt.tok.State(now); got != tt.want {
			t.Errorf("%+v.State(now) = %q, want %q", tt.tok, got, tt.want)
		}
	}
}

func TestEnrollmentTokens(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		acme := mustClient(t, db, "Acme")
		hq := mustSite(t, db, acme.ID, "HQ")
		other := mustSite(t, db, acme.ID, "Other")

		expires := clk.Now().Add(7*24*time.Hour + 123*time.Microsecond)
		tok, err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{
			SiteID: hq.ID, Prefix: "ste_AbCd", CreatedBy: "alice@example.com", ExpiresAt: expires, MaxUses: 5,
		}, "hash-1")
		if err != nil {
			t.Fatalf("CreateEnrollmentToken: %v", err)
		}
		want := store.EnrollmentToken{ID: tok.ID, SiteID: hq.ID, Prefix: "ste_AbCd", CreatedBy: "alice@example.com",
			CreatedAt: clk.Now(), ExpiresAt: expires.Truncate(time.Millisecond), MaxUses: 5}
		if diff := cmp.Diff(want, tok); diff != "" {
			t.Errorf("CreateEnrollmentToken (-want +got):\n%s", diff)
		}
		got, err := db.EnrollmentToken(ctx, tok.ID)
		if err != nil {
			t.Fatalf("EnrollmentToken(%s): %v", tok.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("EnrollmentToken (-want +got):\n%s", diff)
		}
		if _, err := db.EnrollmentToken(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("EnrollmentToken(unknown) error = %v, want ErrNotFound", err)
		}

		_, err = db.CreateEnrollmentToken(ctx, store.EnrollmentToken{SiteID: store.NewID(), ExpiresAt: expires}, "hash-x")
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateEnrollmentToken(unknown site) error = %v, want ErrNotFound", err)
		}
		if _, err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{SiteID: hq.ID, ExpiresAt: expires}, "hash-1"); err == nil {
			t.Errorf("CreateEnrollmentToken(duplicate hash) succeeded, want error")
		}

		clk.Advance(time.Second)
		newer, _ := mustToken(t, db, hq.ID, 0, clk.Now().Add(time.Hour))
		mustToken(t, db, other.ID, 0, clk.Now().Add(time.Hour))
		list, err := db.ListEnrollmentTokens(ctx, hq.ID)
		if err != nil {
			t.Fatalf("ListEnrollmentTokens: %v", err)
		}
		var ids []string
		for _, tk := range list {
			ids = append(ids, tk.ID)
		}
		if diff := cmp.Diff([]string{newer.ID, tok.ID}, ids); diff != "" {
			t.Errorf("ListEnrollmentTokens(HQ) IDs, newest first (-want +got):\n%s", diff)
		}
		if list, err := db.ListEnrollmentTokens(ctx, store.NewID()); err != nil || len(list) != 0 {
			t.Errorf("ListEnrollmentTokens(unknown site) = %v, %v; want empty", list, err)
		}

		clk.Advance(time.Minute)
		if err := db.RevokeEnrollmentToken(ctx, tok.ID); err != nil {
			t.Fatalf("RevokeEnrollmentToken: %v", err)
		}
		got, _ = db.EnrollmentToken(ctx, tok.ID)
		if !got.RevokedAt.Equal(clk.Now()) || got.State(clk.Now()) != "revoked" {
			t.Errorf("after RevokeEnrollmentToken: RevokedAt = %v, state %q; want %v, revoked", got.RevokedAt, got.State(clk.Now()), clk.Now())
		}
		// Revoking again keeps the first revocation time.
		clk.Advance(time.Minute)
		if err := db.RevokeEnrollmentToken(ctx, tok.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeEnrollmentToken(revoked) error = %v, want ErrNotFound", err)
		}
		if again, _ := db.EnrollmentToken(ctx, tok.ID); !again.RevokedAt.Equal(got.RevokedAt) {
			t.Errorf("RevokedAt after second revoke = %v, want %v", again.RevokedAt, got.RevokedAt)
		}
		if err := db.RevokeEnrollmentToken(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeEnrollmentToken(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		acme := mustClient(t, db, "Acme")
		hq := mustSite(t, db, acme.ID, "HQ")
		tok, hash := mustToken(t, db, hq.ID, 2, clk.Now().Add(time.Hour))

		facts := protocol.Facts{
			Hostname: "web-01", OS: "linux", OSName: "ubuntu", OSVersion: "24.04", Arch: "amd64",
			Kernel: "6.8.0", AgentVersion: "0.1.0", BootTime: clk.Now().Add(-time.Hour + 500*time.Microsecond),
			IPAddresses: []string{"10.0.0.5", "fe80::1"}, Users: []string{"alice"},
		}
		a, err := db.Enroll(ctx, hash, store.NewAgent{SecretHash: "agent-secret-hash", Facts: facts, IP: "198.51.100.7"})
		if err != nil {
			t.Fatalf("Enroll: %v", err)
		}
		want := store.Agent{
			ID: a.ID, ClientID: acme.ID, SiteID: hq.ID, Hostname: "web-01", OS: "linux", OSName: "ubuntu",
			OSVersion: "24.04", Arch: "amd64", Kernel: "6.8.0", Version: "0.1.0",
			BootTime: facts.BootTime.Truncate(time.Millisecond), IPAddresses: []string{"10.0.0.5", "fe80::1"},
			Users: []string{"alice"}, Trays: []protocol.TrayInfo{}, EnrolledAt: clk.Now(), LastSeen: clk.Now(), Status: store.StatusOffline,
		}
		if diff := cmp.Diff(want, a); diff != "" {
			t.Errorf("Enroll (-want +got):\n%s", diff)
		}
		got, err := db.Agent(ctx, a.ID)
		if err != nil {
			t.Fatalf("Agent(%s): %v", a.ID, err)
		}
		want.ClientName, want.SiteName = "Acme", "HQ"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Agent after Enroll (-want +got):\n%s", diff)
		}
		if h, err := db.AgentSecretHash(ctx, a.ID); err != nil || h != "agent-secret-hash" {
			t.Errorf("AgentSecretHash() = %q, %v; want %q", h, err, "agent-secret-hash")
		}
		if got, _ := db.EnrollmentToken(ctx, tok.ID); got.Uses != 1 {
			t.Errorf("token Uses after one enrollment = %d, want 1", got.Uses)
		}

		entries, total, err := db.ListAudit(ctx, store.AuditFilter{Action: "agent.enroll"}, store.Page{})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		wantAudit := []store.AuditEntry{{
			At: clk.Now(), ActorType: "agent", ActorID: a.ID, ActorName: "web-01", Action: "agent.enroll",
			TargetType: "agent", TargetID: a.ID, IP: "198.51.100.7",
			Detail: map[string]string{"site_id": hq.ID, "enrollment_token": tok.Prefix, "os": "linux"},
		}}
		if total != 1 {
			t.Errorf("ListAudit(agent.enroll) total = %d, want 1", total)
		}
		if diff := cmp.Diff(wantAudit, entries, cmpopts.IgnoreFields(store.AuditEntry{}, "ID")); diff != "" {
			t.Errorf("audit entries after Enroll (-want +got):\n%s", diff)
		}

		// Minimal facts: nil lists come back empty, zero boot time stays zero.
		b, err := db.Enroll(ctx, hash, store.NewAgent{SecretHash: "s", Facts: protocol.Facts{Hostname: "bare"}})
		if err != nil {
			t.Fatalf("Enroll(minimal facts): %v", err)
		}
		got, _ = db.Agent(ctx, b.ID)
		if got.IPAddresses == nil || len(got.IPAddresses) != 0 || got.Users == nil || len(got.Users) != 0 || !got.BootTime.IsZero() {
			t.Errorf("Agent(minimal) = ips %#v users %#v boot %v; want empty lists and zero time", got.IPAddresses, got.Users, got.BootTime)
		}

		if _, err := db.Agent(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Agent(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := db.AgentSecretHash(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AgentSecretHash(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestEnrollRefused(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		_, expiredHash := mustToken(t, db, site.ID, 0, clk.Now().Add(time.Minute))
		revoked, revokedHash := mustToken(t, db, site.ID, 0, clk.Now().Add(time.Hour))
		_, usedHash := mustToken(t, db, site.ID, 1, clk.Now().Add(time.Hour))
		// Revoked and used up also expire later: the precise reason wins.
		revokedUsed, revokedUsedHash := mustToken(t, db, site.ID, 1, clk.Now().Add(time.Hour))

		enroll := func(hash string) error {
			_, err := db.Enroll(ctx, hash, store.NewAgent{SecretHash: "s", Facts: protocol.Facts{Hostname: "h"}})
			return err
		}
		if err := enroll(usedHash); err != nil {
			t.Fatalf("Enroll(single-use token): %v", err)
		}
		if err := enroll(revokedUsedHash); err != nil {
			t.Fatalf("Enroll(single-use token): %v", err)
		}
		for _, id := range []string{revoked.ID, revokedUsed.ID} {
			if err := db.RevokeEnrollmentToken(ctx, id); err != nil {
				t.Fatalf("RevokeEnrollmentToken: %v", err)
			}
		}
		if err := enroll(expiredHash); err != nil {
			t.Fatalf("Enroll before expiry: %v", err)
		}
		clk.Advance(time.Minute) // expiredHash expires exactly now

		tests := []struct {
			name, hash string
			want       error
		}{
			{"unknown", "no-such-hash", store.ErrTokenUnknown},
			{"empty hash", "", store.ErrTokenUnknown},
			{"expired", expiredHash, store.ErrTokenExpired},
			{"revoked", revokedHash, store.ErrTokenRevoked},
			{"used up", usedHash, store.ErrTokenUsedUp},
			{"revoked and used up", revokedUsedHash, store.ErrTokenRevoked},
		}
		for _, tt := range tests {
			if err := enroll(tt.hash); !errors.Is(err, tt.want) {
				t.Errorf("Enroll(%s token) error = %v, want %v", tt.name, err, tt.want)
			}
		}

		// Refusals leave nothing behind: three agents, three audit entries.
		if c, _ := db.CountAgents(ctx); c.Total != 3 {
			t.Errorf("CountAgents().Total after refusals = %d, want 3", c.Total)
		}
		if _, total, _ := db.ListAudit(ctx, store.AuditFilter{Action: "agent.enroll"}, store.Page{}); total != 3 {
			t.Errorf("agent.enroll audit entries after refusals = %d, want 3", total)
		}
	})
}

func TestEnrollUnlimited(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		tok, hash := mustToken(t, db, site.ID, 0, clk.Now().Add(time.Hour))
		const n = 12
		for i := range n {
			f := protocol.Facts{Hostname: fmt.Sprintf("pc-%02d", i)}
			if _, err := db.Enroll(ctx, hash, store.NewAgent{SecretHash: "s", Facts: f}); err != nil {
				t.Fatalf("Enroll #%d with max_uses=0: %v", i, err)
			}
		}
		got, _ := db.EnrollmentToken(ctx, tok.ID)
		if got.Uses != n || got.State(clk.Now()) != "active" {
			t.Errorf("unlimited token after %d enrollments: uses %d, state %q; want %d, active", n, got.Uses, got.State(clk.Now()), n)
		}
	})
}

// TestEnrollRace is N+5 machines racing for a token with N uses: exactly N
// agents exist afterwards and the others are told the token is used up.
func TestEnrollRace(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		const maxUses = 3
		tok, hash := mustToken(t, db, site.ID, maxUses, clk.Now().Add(time.Hour))
		race(maxUses+5, func(int) error { return db.Ping(ctx) }) // warm the pool
		errs := race(maxUses+5, func(i int) error {
			_, err := db.Enroll(ctx, hash, store.NewAgent{SecretHash: "s", Facts: protocol.Facts{Hostname: fmt.Sprintf("pc-%d", i)}})
			return err
		})
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrTokenUsedUp):
				t.Errorf("Enroll #%d error = %v, want nil or ErrTokenUsedUp", i, err)
			}
		}
		if ok != maxUses {
			t.Errorf("%d concurrent enrollments with max_uses=%d: %d succeeded, want %d", maxUses+5, maxUses, ok, maxUses)
		}
		if c, _ := db.CountAgents(ctx); c.Total != maxUses {
			t.Errorf("CountAgents().Total = %d, want %d", c.Total, maxUses)
		}
		if got, _ := db.EnrollmentToken(ctx, tok.ID); got.Uses != maxUses {
			t.Errorf("token Uses = %d, want %d", got.Uses, maxUses)
		}
		if _, total, _ := db.ListAudit(ctx, store.AuditFilter{Action: "agent.enroll"}, store.Page{}); total != maxUses {
			t.Errorf("agent.enroll audit entries = %d, want %d", total, maxUses)
		}
	})
}
