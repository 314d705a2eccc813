package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
)

// TestListAuditByActorTargetAndTime filters the audit log by part of the
// actor's name, by kind of target and by a time range.
func TestListAuditByActorTargetAndTime(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		start := clk.Now()
		add := func(actor, targetType, action string) {
			t.Helper()
			clk.Advance(time.Hour)
			if err := db.AddAudit(ctx, store.AuditEntry{ActorType: "user", ActorName: actor, Action: action, TargetType: targetType, TargetID: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		add("Alice@example.com", "client", "client.create")           // start+1h
		add("bob@example.com (api token)", "agent", "command.create") // start+2h
		add("alice@example.com", "agent", "command.create")           // start+3h
		add("console", "user", "user.create")                         // start+4h
		for _, tt := range []struct {
			name string
			f    store.AuditFilter
			want []string
		}{
			{"actor, any case", store.AuditFilter{Actor: "ALICE"}, []string{"command.create", "client.create"}},
			{"actor with a wildcard literal", store.AuditFilter{Actor: "%"}, nil},
			{"target type", store.AuditFilter{TargetType: "agent"}, []string{"command.create", "command.create"}},
			{"since", store.AuditFilter{Since: start.Add(3 * time.Hour)}, []string{"user.create", "command.create"}},
			{"until, excluded", store.AuditFilter{Until: start.Add(2 * time.Hour)}, []string{"client.create"}},
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
