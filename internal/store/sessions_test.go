package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		u, err := db.CreateUser(ctx, "alice@example.com", "h", store.RoleAdmin)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		now := clk.Now()
		s := store.Session{IDHash: "hash-1", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			IP: "192.0.2.7", UserAgent: "Firefox/140"}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		short := store.Session{IDHash: "hash-2", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := db.CreateSession(ctx, short); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}

		gotU, gotS, err := db.SessionUser(ctx, "hash-1")
		if err != nil {
			t.Fatalf("SessionUser: %v", err)
		}
		if diff := cmp.Diff(u, gotU); diff != "" {
			t.Errorf("SessionUser user (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(s, gotS); diff != "" {
			t.Errorf("SessionUser session (-want +got):\n%s", diff)
		}

		if _, _, err := db.SessionUser(ctx, "no-such-hash"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionUser(unknown) error = %v, want ErrNotFound", err)
		}

		// A session is valid strictly before its expiry.
		clk.Advance(time.Minute - time.Millisecond)
		if _, _, err := db.SessionUser(ctx, "hash-2"); err != nil {
			t.Errorf("SessionUser 1ms before expiry: %v", err)
		}
		clk.Advance(time.Millisecond)
		if _, _, err := db.SessionUser(ctx, "hash-2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionUser at expiry error = %v, want ErrNotFound", err)
		}
		if _, _, err := db.SessionUser(ctx, "hash-1"); err != nil {
			t.Errorf("SessionUser(unexpired) after the other expired: %v", err)
		}

		n, err := db.DeleteExpiredSessions(ctx)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpiredSessions() = %d, %v; want 1, nil", n, err)
		}
		if n, _ := db.DeleteExpiredSessions(ctx); n != 0 {
			t.Errorf("DeleteExpiredSessions() again = %d, want 0", n)
		}

		if err := db.DeleteSession(ctx, "hash-1"); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		if _, _, err := db.SessionUser(ctx, "hash-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionUser after DeleteSession error = %v, want ErrNotFound", err)
		}
		// Logging out twice is fine.
		if err := db.DeleteSession(ctx, "hash-1"); err != nil {
			t.Errorf("DeleteSession(deleted) = %v, want nil", err)
		}

		// A session must belong to a real user.
		orphan := store.Session{IDHash: "hash-3", UserID: store.NewID(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.CreateSession(ctx, orphan); err == nil {
			t.Errorf("CreateSession(unknown user) succeeded, want a foreign key error")
		}
		// Session hashes are unique.
		if err := db.CreateSession(ctx, store.Session{IDHash: "hash-2b", UserID: u.ID, ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		if err := db.CreateSession(ctx, store.Session{IDHash: "hash-2b", UserID: u.ID, ExpiresAt: now.Add(2 * time.Hour)}); err == nil {
			t.Errorf("CreateSession(duplicate hash) succeeded, want error")
		}
	})
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		u, err := db.CreateUser(ctx, "bot@example.com", "h", store.RoleTechnician)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		created := clk.Now()
		tok, err := db.CreateAPIToken(ctx, u.ID, "ci", "token-hash")
		if err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		want := store.APIToken{ID: tok.ID, UserID: u.ID, Name: "ci", CreatedAt: created}
		if diff := cmp.Diff(want, tok); diff != "" {
			t.Errorf("CreateAPIToken (-want +got):\n%s", diff)
		}

		// First use: returns the token as it was, then records the use.
		gotU, gotT, err := db.APITokenUser(ctx, "token-hash")
		if err != nil {
			t.Fatalf("APITokenUser: %v", err)
		}
		if diff := cmp.Diff(u, gotU); diff != "" {
			t.Errorf("APITokenUser user (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, gotT); diff != "" {
			t.Errorf("APITokenUser token on first use (-want +got):\n%s", diff)
		}

		// Within a minute the recorded use does not move: a busy
		// integration must not turn every read into a write.
		clk.Advance(30 * time.Second)
		_, gotT, err = db.APITokenUser(ctx, "token-hash")
		if err != nil {
			t.Fatalf("APITokenUser: %v", err)
		}
		if !gotT.LastUsedAt.Equal(created) {
			t.Errorf("LastUsedAt 30s after first use = %v, want %v", gotT.LastUsedAt, created)
		}
		// After a minute it does; the call returns the previous value.
		clk.Advance(time.Minute)
		_, gotT, _ = db.APITokenUser(ctx, "token-hash")
		if !gotT.LastUsedAt.Equal(created) {
			t.Errorf("LastUsedAt returned 90s after first use = %v, want %v", gotT.LastUsedAt, created)
		}
		_, gotT, _ = db.APITokenUser(ctx, "token-hash")
		if want := created.Add(90 * time.Second); !gotT.LastUsedAt.Equal(want) {
			t.Errorf("LastUsedAt recorded 90s after first use = %v, want %v", gotT.LastUsedAt, want)
		}

		if _, _, err := db.APITokenUser(ctx, "other-hash"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("APITokenUser(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := db.CreateAPIToken(ctx, u.ID, "dup", "token-hash"); err == nil {
			t.Errorf("CreateAPIToken(duplicate hash) succeeded, want error")
		}
		if _, err := db.CreateAPIToken(ctx, store.NewID(), "orphan", "orphan-hash"); err == nil {
			t.Errorf("CreateAPIToken(unknown user) succeeded, want a foreign key error")
		}
	})
}
