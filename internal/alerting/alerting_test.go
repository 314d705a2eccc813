package alerting_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/alerting"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

type fixedPolicy struct{ eff policy.Effective }

func (f fixedPolicy) For(context.Context, string, string, string) (policy.Effective, error) {
	return f.eff, nil
}

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) AlertChanged(_ context.Context, a store.Alert, opened bool, route []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, map[bool]string{true: "open ", false: "resolve "}[opened]+a.Rule+" "+strings.Join(route, ","))
}

func TestAlertLifecycleAndMaintenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := manage.New(db)
		c, _ := svc.CreateClient(ctx, access.Console(), "Acme")
		s, _ := svc.CreateSite(ctx, access.Console(), c.ID, "HQ")
		tok, _, _ := svc.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
		ag, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: "pc", OS: "linux"}})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := policy.Decode(json.RawMessage(`{"thresholds":{"cpu":{"trigger":50,"clear":40,"for":"0s"}},"notifications":{"warning":["0190aaaa-0000-7000-8000-000000000001"]}}`))
		if err != nil {
			t.Fatal(err)
		}
		eff := policy.Resolve(policy.Assignment{Level: policy.LevelSite, PolicyID: "p", Document: doc})
		rec := &recorder{}
		al := alerting.New(db, fixedPolicy{eff}, bus.NewLocal(), slog.New(slog.NewTextHandler(io.Discard, nil)), rec)
		observe := func(v float64) {
			al.Observe(ctx, ag.ID, c.ID, s.ID, []protocol.Sample{{Time: time.Now(), Values: map[string]float64{"cpu.percent": v}}})
		}
		unresolved := func() int {
			items, _, err := db.ListAlerts(ctx, store.AlertFilter{AgentID: ag.ID, State: "unresolved"}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			return len(items)
		}

		// A maintenance window on the site silences the alert.
		w, err := svc.StartMaintenance(ctx, access.Console(), store.LevelSite, s.ID, time.Time{}, time.Hour, "patching")
		if err != nil {
			t.Fatal(err)
		}
		observe(90)
		if n := unresolved(); n != 0 {
			t.Fatalf("%d alerts during maintenance, want 0", n)
		}
		// Once the window ends, a condition still present opens the alert.
		if err := svc.EndMaintenance(ctx, access.Console(), w.ID); err != nil {
			t.Fatal(err)
		}
		observe(91)
		observe(92) // one open alert at a time
		if n := unresolved(); n != 1 {
			t.Fatalf("%d unresolved alerts after maintenance, want 1", n)
		}
		observe(45) // between clear and trigger: stays open
		if n := unresolved(); n != 1 {
			t.Fatalf("alert resolved above its clear level")
		}
		observe(30)
		if n := unresolved(); n != 0 {
			t.Fatalf("alert not resolved below its clear level")
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		// Both are routed by the agent's policy for the alert's severity.
		want := []string{"open cpu 0190aaaa-0000-7000-8000-000000000001", "resolve cpu 0190aaaa-0000-7000-8000-000000000001"}
		if !slices.Equal(rec.events, want) {
			t.Errorf("notifications = %v, want %v", rec.events, want)
		}
		// Bad maintenance input.
		if _, err := svc.StartMaintenance(ctx, access.Console(), "default", "", time.Time{}, time.Hour, ""); err == nil {
			t.Errorf("maintenance at the default level accepted")
		}
		if _, err := svc.StartMaintenance(ctx, access.Console(), store.LevelSite, s.ID, time.Time{}, time.Second, ""); err == nil {
			t.Errorf("one-second maintenance accepted")
		}
	})
}

func TestOfflineAlertNotifies(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			opts := b.Options(t)
			// The agent enrolls, and is last seen, ten minutes ago.
			opts.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
			db := storetest.Open(t, opts)
			svc := manage.New(db)
			c, _ := svc.CreateClient(ctx, access.Console(), "Acme")
			s, _ := svc.CreateSite(ctx, access.Console(), c.ID, "HQ")
			tok, _, _ := svc.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
			ag, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: "pc", OS: "linux"}})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := policy.Decode(json.RawMessage(`{"notifications":{"warning":[]}}`))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			eff := policy.Resolve(policy.Assignment{Level: policy.LevelClient, PolicyID: "p", Document: doc})
			al := alerting.New(db, fixedPolicy{eff}, bus.NewLocal(), slog.New(slog.DiscardHandler), rec)
			if err := al.CheckOffline(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.MarkConnected(ctx, store.Connection{AgentID: ag.ID, ConnID: "c1", ReplicaID: "r1", Facts: protocol.Facts{Hostname: "pc", OS: "linux"}}); err != nil {
				t.Fatal(err)
			}
			if err := al.CheckOffline(ctx); err != nil {
				t.Fatal(err)
			}
			if err := al.CheckOffline(ctx); err != nil { // already resolved: nothing more
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			// The offline alert is a warning, which this policy silences: the
			// route is empty, and the notifier decides nothing goes out.
			want := []string{"open offline ", "resolve offline "}
			if !slices.Equal(rec.events, want) {
				t.Errorf("notifications = %q, want %q", rec.events, want)
			}
		})
	}
}

func TestHandleByHand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := manage.New(db)
		c, _ := svc.CreateClient(ctx, access.Console(), "Acme")
		s, _ := svc.CreateSite(ctx, access.Console(), c.ID, "HQ")
		tok, _, _ := svc.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
		ag, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: "pc", OS: "linux"}})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := policy.Decode(json.RawMessage(`{"thresholds":{"cpu":{"trigger":50,"clear":40,"for":"0s"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		eff := policy.Resolve(policy.Assignment{Level: policy.LevelSite, PolicyID: "p", Document: doc})
		rec := &recorder{}
		al := alerting.New(db, fixedPolicy{eff}, bus.NewLocal(), slog.New(slog.DiscardHandler), rec)
		observe := func(v float64) {
			al.Observe(ctx, ag.ID, c.ID, s.ID, []protocol.Sample{{Time: time.Now(), Values: map[string]float64{"cpu.percent": v}}})
		}
		unresolved := func() []store.Alert {
			items, _, err := db.ListAlerts(ctx, store.AlertFilter{AgentID: ag.ID, State: "unresolved"}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			return items
		}
		tech := access.Principal{User: store.User{ID: "u1", Email: "tech@example.com", Role: store.RoleTechnician}, Via: "session"}
		viewer := access.Principal{User: store.User{ID: "u2", Email: "ro@example.com", Role: store.RoleReadonly}, Via: "session"}

		observe(90)
		open := unresolved()
		if len(open) != 1 {
			t.Fatalf("%d unresolved alerts, want 1", len(open))
		}
		id := open[0].ID
		if _, err := al.Handle(ctx, viewer, []string{id}, true); !errors.Is(err, access.ErrForbidden) {
			t.Fatalf("read-only Handle: err = %v, want ErrForbidden", err)
		}
		if _, err := al.Handle(ctx, tech, nil, false); err == nil {
			t.Error("Handle with no ids: want error")
		}
		if _, err := al.Handle(ctx, tech, []string{"0190aaaa-0000-7000-8000-00000000dead"}, true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Handle of one unknown id: err = %v, want ErrNotFound", err)
		}

		got, err := al.Handle(ctx, tech, []string{id, "0190aaaa-0000-7000-8000-00000000dead"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].State != "acknowledged" || got[0].AcknowledgedBy != "tech@example.com" {
			t.Fatalf("acknowledge: got %+v, want one alert acknowledged by tech@example.com", got)
		}
		got, err = al.Handle(ctx, tech, []string{id}, true)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].State != "resolved" || got[0].ResolvedBy != "tech@example.com" {
			t.Fatalf("resolve: got %+v", got[0])
		}
		// Resolving again changes nothing and notifies nobody.
		if _, err := al.Handle(ctx, tech, []string{id}, true); err != nil {
			t.Fatal(err)
		}

		entries, _, err := db.ListAudit(ctx, store.AuditFilter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			if e.TargetID == id {
				actions = append(actions, e.Action+" by "+e.ActorName)
			}
		}
		slices.Sort(actions)
		if want := []string{"alert.acknowledge by tech@example.com", "alert.resolve by tech@example.com"}; !slices.Equal(actions, want) {
			t.Errorf("audit = %v, want %v", actions, want)
		}

		// The condition persists: the rule starts afresh and opens a new
		// alert rather than being forgotten.
		observe(91)
		if n := len(unresolved()); n != 1 {
			t.Errorf("%d unresolved alerts after a hand resolve with the condition present, want 1", n)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		want := []string{"open cpu all", "resolve cpu all", "open cpu all"}
		if !slices.Equal(rec.events, want) {
			t.Errorf("notifications = %v, want %v", rec.events, want)
		}
	})
}
