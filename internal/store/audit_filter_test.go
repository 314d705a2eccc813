package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// TestListAuditByActorTargetAndTime filters the audit log by part of the
// actor's name, by kind of target and by a time range.
func TestListAuditByActorTargetAndTime(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		start := clk.Now()
		alice, err := db.CreateUser(ctx, "Alice@example.com", "x", store.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		bob, err := db.CreateUser(ctx, "bob@example.com", "x", store.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		mustEnroll(t, db, mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ").ID, protocol.Facts{Hostname: "Kiosk-7"})
		add := func(actorType, actorID, actor, targetType, action string) {
			t.Helper()
			clk.Advance(time.Hour)
			if err := db.AddAudit(ctx, store.AuditEntry{ActorType: actorType, ActorID: actorID, ActorName: actor, Action: action, TargetType: targetType, TargetID: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		// mustEnroll wrote agent.enroll at start.
		add("user", alice.ID, "Alice@example.com", "client", "client.create")                  // start+1h
		add("api_token", bob.ID, "bob@example.com (api token)", "agent", "command.create")     // start+2h
		add("api_token", alice.ID, "alice@example.com (api token)", "agent", "command.create") // start+3h
		add("console", "", "console", "user", "user.create")                                   // start+4h
		for _, tt := range []struct {
			name string
			f    store.AuditFilter
			want []string
		}{
			{"actor, any case", store.AuditFilter{Actor: "ALICE"}, []string{"command.create", "client.create"}},
			{"actor with a wildcard literal", store.AuditFilter{Actor: "%"}, nil},
			{"an agent by hostname", store.AuditFilter{Actor: "kiosk"}, []string{"agent.enroll"}},
			{"api tokens", store.AuditFilter{Actor: "API TOKEN"}, []string{"command.create", "command.create"}},
			{"the console", store.AuditFilter{Actor: "consol"}, []string{"user.create"}},
			{"nobody", store.AuditFilter{Actor: "zed"}, nil},
			{"target type", store.AuditFilter{TargetType: "agent"}, []string{"command.create", "command.create", "agent.enroll"}},
			{"since", store.AuditFilter{Since: start.Add(3 * time.Hour)}, []string{"user.create", "command.create"}},
			{"until, excluded", store.AuditFilter{Until: start.Add(2 * time.Hour)}, []string{"client.create", "agent.enroll"}},
			{"all together", store.AuditFilter{Actor: "alice", TargetType: "agent", Since: start, Until: start.Add(4 * time.Hour)}, []string{"command.create"}},
		} {
			got, n, err := db.ListAudit(ctx, tt.f, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if !cmp.Equal(actions, tt.want) || n != len(tt.want) {
				t.Errorf("%s: got %v (total %d), want %v", tt.name, actions, n, tt.want)
			}
		}
	})
}
