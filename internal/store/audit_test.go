package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
)

func TestAddAudit(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		full := store.AuditEntry{
			ID: store.NewID(), At: clk.Now().Add(-time.Hour), ActorType: "user", ActorID: "u1", ActorName: "alice@example.com",
			Action: "client.create", TargetType: "client", TargetID: "c1", IP: "192.0.2.1",
			Detail: map[string]string{"name": `Acme "Holdings" & <Sons>`, "note": "ünïcode"},
		}
		if err := db.AddAudit(ctx, full); err != nil {
			t.Fatalf("AddAudit: %v", err)
		}
		// ID, time and detail are filled in when missing.
		if err := db.AddAudit(ctx, store.AuditEntry{ActorType: "system", Action: "server.start"}); err != nil {
			t.Fatalf("AddAudit(minimal): %v", err)
		}

		got, total, err := db.ListAudit(ctx, store.AuditFilter{}, store.Page{})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if total != 2 || len(got) != 2 {
			t.Fatalf("ListAudit() = %d entries, total %d; want 2, 2", len(got), total)
		}
		minimal := got[0]
		if minimal.ID == "" || !minimal.At.Equal(clk.Now()) || minimal.Detail == nil || len(minimal.Detail) != 0 {
			t.Errorf("minimal entry = %+v, want a generated ID, At = %v and empty detail", minimal, clk.Now())
		}
		if diff := cmp.Diff(full, got[1]); diff != "" {
			t.Errorf("ListAudit() full entry (-want +got):\n%s", diff)
		}

		// Entries are immutable records: the same ID twice is an error.
		if err := db.AddAudit(ctx, full); err == nil {
			t.Errorf("AddAudit(duplicate ID) succeeded, want error")
		}
	})
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		add := func(action, actor, target string) {
			t.Helper()
			clk.Advance(time.Second)
			err := db.AddAudit(ctx, store.AuditEntry{ActorType: "user", ActorID: actor, Action: action, TargetType: "x", TargetID: target})
			if err != nil {
				t.Fatalf("AddAudit(%s): %v", action, err)
			}
		}
		add("client.create", "alice", "c1")   // 1
		add("site.create", "alice", "s1")     // 2
		add("client.rename", "bob", "c1")     // 3
		add("clientele.view", "bob", "c2")    // 4
		add("agent.enroll", "agent1", "a1")   // 5
		add("client_x.create", "carol", "c3") // 6
		add("client%.odd", "carol", "c3")     // 7
		// Same millisecond: the later ID sorts first.
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			for _, target := range []string{"t1", "t2"} {
				if err := tx.AddAudit(ctx, store.AuditEntry{ActorID: "dave", Action: "token.revoke", TargetID: target}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("AddAudit in WithTx: %v", err)
		}

		type row struct{ Action, Target string }
		rows := func(es []store.AuditEntry) []row {
			out := []row{}
			for _, e := range es {
				out = append(out, row{e.Action, e.TargetID})
			}
			return out
		}
		tests := []struct {
			filter store.AuditFilter
			page   store.Page
			want   []row
			total  int
		}{
			{store.AuditFilter{}, store.Page{Limit: 4}, []row{
				{"token.revoke", "t2"}, {"token.revoke", "t1"}, {"client%.odd", "c3"}, {"client_x.create", "c3"}}, 9},
			{store.AuditFilter{}, store.Page{Limit: 4, Offset: 4}, []row{
				{"agent.enroll", "a1"}, {"clientele.view", "c2"}, {"client.rename", "c1"}, {"site.create", "s1"}}, 9},
			{store.AuditFilter{}, store.Page{Limit: 4, Offset: 8}, []row{{"client.create", "c1"}}, 9},
			{store.AuditFilter{}, store.Page{Offset: 9}, []row{}, 9},
			// Action is a prefix; '.', '_' and '%' in it match literally.
			{store.AuditFilter{Action: "client."}, store.Page{}, []row{{"client.rename", "c1"}, {"client.create", "c1"}}, 2},
			{store.AuditFilter{Action: "client"}, store.Page{}, []row{
				{"client%.odd", "c3"}, {"client_x.create", "c3"}, {"clientele.view", "c2"}, {"client.rename", "c1"}, {"client.create", "c1"}}, 5},
			{store.AuditFilter{Action: "client_"}, store.Page{}, []row{{"client_x.create", "c3"}}, 1},
			{store.AuditFilter{Action: "client%"}, store.Page{}, []row{{"client%.odd", "c3"}}, 1},
			{store.AuditFilter{Action: "agent.enroll"}, store.Page{}, []row{{"agent.enroll", "a1"}}, 1},
			{store.AuditFilter{Action: "create"}, store.Page{}, []row{}, 0},
			{store.AuditFilter{ActorID: "alice"}, store.Page{}, []row{{"site.create", "s1"}, {"client.create", "c1"}}, 2},
			{store.AuditFilter{TargetID: "c1"}, store.Page{}, []row{{"client.rename", "c1"}, {"client.create", "c1"}}, 2},
			{store.AuditFilter{Action: "client.", ActorID: "bob"}, store.Page{}, []row{{"client.rename", "c1"}}, 1},
			{store.AuditFilter{Action: "client", ActorID: "carol", TargetID: "c3"}, store.Page{Limit: 1}, []row{{"client%.odd", "c3"}}, 2},
			{store.AuditFilter{ActorID: "nobody"}, store.Page{}, []row{}, 0},
		}
		for _, tt := range tests {
			got, total, err := db.ListAudit(ctx, tt.filter, tt.page)
			if err != nil {
				t.Fatalf("ListAudit(%+v, %+v): %v", tt.filter, tt.page, err)
			}
			if total != tt.total {
				t.Errorf("ListAudit(%+v, %+v) total = %d, want %d", tt.filter, tt.page, total, tt.total)
			}
			if diff := cmp.Diff(tt.want, rows(got)); diff != "" {
				t.Errorf("ListAudit(%+v, %+v) (-want +got):\n%s", tt.filter, tt.page, diff)
			}
		}
	})
}
