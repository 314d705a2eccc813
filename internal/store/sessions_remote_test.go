package store_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestRemoteSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		mk := func(id, agent, replica string) store.RemoteSession {
			t.Helper()
			var s store.RemoteSession
			err := db.WithTx(ctx, func(tx *store.Tx) (err error) {
				s, err = tx.CreateRemoteSession(ctx, store.RemoteSession{ID: id, AgentID: agent, UserID: "u1", UserName: "tech@example.com",
					Kind: "terminal", ReplicaID: replica})
				return err
			})
			if err != nil {
				t.Fatalf("CreateRemoteSession(%s): %v", id, err)
			}
			return s
		}
		a := mk("s-a", "agent-1", "r1")
		mk("s-b", "agent-2", "r1")
		mk("s-c", "agent-1", "r2")

		var ended store.RemoteSession
		err := db.WithTx(ctx, func(tx *store.Tx) (err error) {
			ended, err = tx.EndRemoteSession(ctx, "s-a", 10, 2000, "browser closed")
			return err
		})
		if err != nil {
			t.Fatalf("EndRemoteSession: %v", err)
		}
		want := a
		want.BytesToAgent, want.BytesToBrowser, want.EndReason = 10, 2000, "browser closed"
		if diff := cmp.Diff(want, ended, cmpopts.IgnoreFields(store.RemoteSession{}, "EndedAt")); diff != "" || ended.EndedAt.IsZero() {
			t.Errorf("ended session (-want +got):\n%s ended_at %v", diff, ended.EndedAt)
		}
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			_, err := tx.EndRemoteSession(ctx, "s-a", 1, 1, "again")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ending an ended session: %v, want ErrNotFound", err)
		}

		if n, err := db.EndReplicaSessions(ctx, "r2", "replica stopped"); err != nil || n != 1 {
			t.Errorf("EndReplicaSessions(r2) = %d, %v; want 1", n, err)
		}
		live, err := db.RemoteSessions(ctx, "", store.Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		ids := func(ss []store.RemoteSession) []string {
			out := []string{}
			for _, s := range ss {
				out = append(out, s.ID)
			}
			return out
		}
		if diff := cmp.Diff([]string{"s-b"}, ids(live)); diff != "" {
			t.Errorf("live sessions (-want +got):\n%s", diff)
		}
		of1, err := db.RemoteSessions(ctx, "agent-1", store.Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(of1) != 2 {
			t.Errorf("sessions of agent-1: %v, want s-a and s-c", ids(of1))
		}
		if s, err := db.RemoteSession(ctx, "s-c"); err != nil || s.EndReason != "replica stopped" {
			t.Errorf("RemoteSession(s-c) = %+v, %v; want ended by the replica", s, err)
		}
	})
}
