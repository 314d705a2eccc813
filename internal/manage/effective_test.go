package manage_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestEffectiveAtAndOutdated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		con := access.Console()
		a1, a2 := f.enroll(t, f.site, "host-a"), f.enroll(t, f.site, "host-b")
		mk := func(name, doc string) store.Policy { return f.policy(t, name, doc) }
		clientPol := mk("Client pol", `{"metrics": {"interval": "30s"}, "thresholds": {"cpu": {"trigger": 95}}}`)
		sitePol := mk("Site pol", `{"thresholds": {"cpu": {"trigger": 85}}}`)
		agentPol := mk("Agent pol", `{"metrics": {"interval": "10s"}}`)
		for _, as := range []struct{ level, target, id string }{
			{store.LevelClient, f.client.ID, clientPol.ID},
			{store.LevelSite, f.site.ID, sitePol.ID},
			{store.LevelAgent, a2.ID, agentPol.ID},
		} {
			if err := f.svc.Assign(ctx, con, as.level, as.target, as.id); err != nil {
				t.Fatalf("assign at %s: %v", as.level, err)
			}
		}

		type field struct {
			Value  string
			Source policy.Level
		}
		get := func(eff policy.Effective, path string) field {
			v, _ := eff.Get(path)
			return field{Value: fmt.Sprint(v.Value), Source: v.Source.Level}
		}
		tests := []struct {
			level, target     string
			interval, trigger field
		}{
			{store.LevelDefault, "", field{"1m0s", policy.LevelBuiltin}, field{"90", policy.LevelBuiltin}},
			{store.LevelClient, f.client.ID, field{"30s", policy.LevelClient}, field{"95", policy.LevelClient}},
			{store.LevelSite, f.site.ID, field{"30s", policy.LevelClient}, field{"85", policy.LevelSite}},
			{store.LevelAgent, a1.ID, field{"30s", policy.LevelClient}, field{"85", policy.LevelSite}},
			{store.LevelAgent, a2.ID, field{"10s", policy.LevelAgent}, field{"85", policy.LevelSite}},
		}
		for _, tt := range tests {
			eff, err := effective.NewPolicies(db).At(ctx, tt.level, tt.target)
			if err != nil {
				t.Fatalf("EffectiveAt(%s %s): %v", tt.level, tt.target, err)
			}
			got := []field{get(eff, "metrics.interval"), get(eff, "thresholds.cpu.trigger")}
			if d := cmp.Diff([]field{tt.interval, tt.trigger}, got); d != "" {
				t.Errorf("EffectiveAt(%s) interval, trigger (-want +got):\n%s", tt.level, d)
			}
			if tt.level == store.LevelAgent {
				// The same resolver as the agent's own effective policy.
				direct, err := effective.NewPolicies(db).Agent(ctx, tt.target)
				if err != nil {
					t.Fatal(err)
				}
				if direct.Revision() != eff.Revision() {
					t.Errorf("EffectiveAt(agent) revision %s, EffectivePolicy %s", eff.Revision(), direct.Revision())
				}
			}
		}
		if _, err := effective.NewPolicies(db).At(ctx, "galaxy", ""); err == nil {
			t.Error("EffectiveAt(galaxy): no error")
		}
		if _, err := effective.NewPolicies(db).At(ctx, store.LevelSite, store.NewID()); err == nil {
			t.Error("EffectiveAt(missing site): no error")
		}

		// Nobody acknowledged anything yet: both are outdated. Once a1
		// acknowledges its revision, only a2 is.
		outdated := func() []string {
			t.Helper()
			got, err := effective.NewPolicies(db).Outdated(ctx)
			if err != nil {
				t.Fatal(err)
			}
			hosts := []string{}
			for _, o := range got {
				hosts = append(hosts, o.Hostname)
			}
			n, err := effective.NewPolicies(db).CountOutdated(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(hosts) {
				t.Errorf("CountOutdated %d, OutdatedAgents lists %d", n, len(hosts))
			}
			return hosts
		}
		if d := cmp.Diff([]string{"host-a", "host-b"}, outdated()); d != "" {
			t.Errorf("outdated before acknowledging (-want +got):\n%s", d)
		}
		eff, _ := effective.NewPolicies(db).Agent(ctx, a1.ID)
		if err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.SetPolicyRevision(ctx, a1.ID, eff.Revision()) }); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"host-b"}, outdated()); d != "" {
			t.Errorf("outdated after host-a acknowledged (-want +got):\n%s", d)
		}
		// A change to the site's policy makes host-a outdated again.
		if _, err := f.svc.UpdatePolicy(ctx, con, sitePol.ID, manage.PolicyInput{Name: "Site pol", Document: json.RawMessage(`{"thresholds": {"cpu": {"trigger": 86}}}`)}); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"host-a", "host-b"}, outdated()); d != "" {
			t.Errorf("outdated after a policy change (-want +got):\n%s", d)
		}
	})
}

// A change is refused when it leaves some scope's effective policy
// inconsistent across levels, with the scope and both values named; a
// problem that was there before is not blamed on an unrelated change.
func TestEffectiveChecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		con := access.Console()
		mk := func(name, doc string) store.Policy {
			t.Helper()
			p, err := f.svc.CreatePolicy(ctx, con, manage.PolicyInput{Name: name, Document: json.RawMessage(doc)})
			if err != nil {
				t.Fatalf("create policy %s: %v", name, err)
			}
			return p
		}
		wantRefused := func(what string, err error, path string, mention ...string) {
			t.Helper()
			var inv *manage.PolicyInvalidError
			if !errors.As(err, &inv) || len(inv.Fields) != 1 || inv.Fields[0].Path != path {
				t.Fatalf("%s = %v, want one field error on %s", what, err, path)
			}
			for _, m := range mention {
				if !strings.Contains(inv.Fields[0].Message, m) {
					t.Errorf("%s: message %q does not mention %q", what, inv.Fields[0].Message, m)
				}
			}
		}
		site := `site "Fixture Client / Fixture Site"`

		// Only the clear level, above the built-in trigger of 90.
		clearOnly := mk("Clear only", `{"thresholds": {"cpu": {"clear": 95}}}`)
		err := f.svc.Assign(ctx, con, store.LevelSite, f.site.ID, clearOnly.ID)
		wantRefused("assign clear-only at the site", err, "thresholds.cpu.clear",
			site, "thresholds.cpu.trigger is 90 from the built-in default", `thresholds.cpu.clear is 95 from the site policy "Clear only"`)
		as, err := db.ListAssignments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Level == store.LevelSite {
				t.Errorf("site assignment after the refusal: %+v, want none", a)
			}
		}

		// A consistent policy saved, then changed into an inconsistent one.
		sitePol := mk("Site", `{"thresholds": {"cpu": {"clear": 85}}}`)
		if err := f.svc.Assign(ctx, con, store.LevelSite, f.site.ID, sitePol.ID); err != nil {
			t.Fatalf("assign a consistent policy: %v", err)
		}
		_, err = f.svc.UpdatePolicy(ctx, con, sitePol.ID, manage.PolicyInput{Name: "Site", Document: json.RawMessage(`{"thresholds": {"cpu": {"clear": 95}}}`)})
		wantRefused("update the site policy", err, "thresholds.cpu.clear", site)
		if p, err := db.Policy(ctx, sitePol.ID); err != nil || !strings.Contains(string(p.Document), "85") {
			t.Errorf("site policy after the refused update = %s, %v; want clear 85 kept", p.Document, err)
		}

		// The client raises the trigger so that the site may raise its clear
		// level; taking the client's policy away again would break the site.
		clientPol := mk("Client", `{"thresholds": {"cpu": {"trigger": 98, "clear": 90}}}`)
		if err := f.svc.Assign(ctx, con, store.LevelClient, f.client.ID, clientPol.ID); err != nil {
			t.Fatalf("assign client policy: %v", err)
		}
		if _, err := f.svc.UpdatePolicy(ctx, con, sitePol.ID, manage.PolicyInput{Name: "Site", Document: json.RawMessage(`{"thresholds": {"cpu": {"clear": 95}}}`)}); err != nil {
			t.Fatalf("raise the site's clear below the client's trigger: %v", err)
		}
		err = f.svc.Unassign(ctx, con, store.LevelClient, f.client.ID)
		wantRefused("unassign the client policy", err, "thresholds.cpu.clear", site, "built-in default")

		// An inconsistency stored before these checks existed is not blamed
		// on an unrelated change.
		if err := db.WithTx(ctx, func(tx *store.Tx) error {
			return tx.Assign(ctx, store.PolicyAssignment{Level: store.LevelClient, TargetID: f.client.ID, PolicyID: clearOnly.ID, AssignedBy: "test"})
		}); err != nil {
			t.Fatal(err)
		}
		other := mk("Other", `{"metrics": {"interval": "30s"}}`)
		if err := f.svc.Assign(ctx, con, store.LevelDefault, "", other.ID); err != nil {
			t.Errorf("an unrelated assignment beside a stored inconsistency: %v", err)
		}
	})
}
