package manage_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// notified records the assignments each policy change announced.
type notified struct {
	mu     sync.Mutex
	scopes [][]store.PolicyAssignment
}

func (n *notified) PolicyChanged(_ context.Context, scopes []store.PolicyAssignment) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.scopes = append(n.scopes, slices.Clone(scopes))
}

func (n *notified) targets() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, sc := range n.scopes {
		for _, a := range sc {
			out = append(out, a.Level+" "+a.TargetID)
		}
	}
	slices.Sort(out)
	return out
}

func TestAssignAgents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		var n notified
		f.svc.SetPolicyNotifier(&n)
		con := access.Console()
		other, err := f.svc.CreateSite(ctx, con, f.client.ID, "Strict Site")
		if err != nil {
			t.Fatal(err)
		}
		a1, a2, strict := f.enroll(t, f.site, "host-a"), f.enroll(t, f.site, "host-b"), f.enroll(t, other, "host-strict")
		mk := func(name, doc string) store.Policy { return f.policy(t, name, doc) }
		// The strict site triggers CPU alerts at 60; a clear level of 75
		// is fine elsewhere but invalid under it.
		if err := f.svc.Assign(ctx, con, store.LevelSite, other.ID, mk("Strict", `{"thresholds":{"cpu":{"trigger":60,"clear":50}}}`).ID); err != nil {
			t.Fatal(err)
		}
		pol := mk("Workstations", `{"thresholds":{"cpu":{"clear":75}}}`)
		old := mk("Old", `{}`)
		if err := f.svc.Assign(ctx, con, store.LevelAgent, a2.ID, old.ID); err != nil {
			t.Fatal(err)
		}
		n.scopes = nil
		audits := f.auditCount(t)

		// Refused: a role without the permission, an unknown policy, and
		// a policy invalid for one agent, which leaves all unassigned.
		if _, err := f.svc.AssignAgents(ctx, f.principal(store.RoleTechnician), pol.ID, []store.Agent{a1}); !errors.Is(err, access.ErrForbidden) {
			t.Errorf("technician AssignAgents = %v, want forbidden", err)
		}
		if _, err := f.svc.AssignAgents(ctx, con, "nope", []store.Agent{a1}); err == nil {
			t.Error("AssignAgents of an unknown policy succeeded")
		}
		var invalid *manage.PolicyInvalidError
		if _, err := f.svc.AssignAgents(ctx, con, pol.ID, []store.Agent{a1, strict, a2}); !errors.As(err, &invalid) {
			t.Errorf("AssignAgents with an invalid result = %v, want a PolicyInvalidError", err)
		}
		assigned := func() map[string]string {
			t.Helper()
			list, err := db.ListAssignments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, as := range list {
				if as.Level == store.LevelAgent {
					out[as.TargetID] = as.PolicyID
				}
			}
			return out
		}
		if got := assigned(); len(got) != 1 || got[a2.ID] != old.ID {
			t.Errorf("agent assignments after refusals = %v, want only %s's old policy", got, a2.Hostname)
		}
		if got := f.auditCount(t); got != audits {
			t.Errorf("audit entries after refusals = %d, want %d", got, audits)
		}
		if len(n.targets()) != 0 {
			t.Errorf("refusals announced %v", n.targets())
		}

		// Accepted: both agents (one named twice) get it, replacing a2's.
		got, err := f.svc.AssignAgents(ctx, f.principal(store.RoleAdmin), pol.ID, []store.Agent{a1, a2, a1})
		if err != nil || got != 2 {
			t.Fatalf("AssignAgents = %d, %v; want 2 agents", got, err)
		}
		if got := assigned(); len(got) != 2 || got[a1.ID] != pol.ID || got[a2.ID] != pol.ID {
			t.Errorf("agent assignments = %v, want both on %s", got, pol.ID)
		}
		if got := f.auditCount(t); got != audits+1 {
			t.Errorf("audit entries = %d, want one more than %d", got, audits)
		}
		entries := f.auditFor(t, "policy.assign", "2 agents")
		if len(entries) != 1 || entries[0].Detail["agents"] != "2" || entries[0].Detail["policy_id"] != pol.ID || entries[0].ActorName != "admin@example.com" {
			t.Errorf("audit = %+v, want one policy.assign of 2 agents by admin", entries)
		}
		want := []string{"agent " + a1.ID, "agent " + a2.ID}
		slices.Sort(want)
		if got := n.targets(); !slices.Equal(got, want) {
			t.Errorf("announced %v, want %v", got, want)
		}
	})
}
