package alerting_test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// machineFixture is a client and site with agents enrolled in them and an
// alerting service that records its notifications.
type machineFixture struct {
	db               *store.DB
	al               *alerting.Service
	rec              *recorder
	clientID, siteID string
	token            string
}

func newMachineFixture(t *testing.T, db *store.DB) *machineFixture {
	t.Helper()
	ctx := t.Context()
	svc := manage.New(db)
	c, err := svc.CreateClient(ctx, access.Console(), "Acme")
	if err != nil {
		t.Fatal(err)
	}
	s, err := svc.CreateSite(ctx, access.Console(), c.ID, "HQ")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), s.ID, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return &machineFixture{db: db, rec: rec, clientID: c.ID, siteID: s.ID, token: tok,
		al: alerting.New(db, fixedPolicy{policy.Resolve()}, bus.NewLocal(), slog.New(slog.DiscardHandler), rec)}
}

func (f *machineFixture) enroll(t *testing.T, hostname string) store.Agent {
	t.Helper()
	a, err := f.db.Enroll(t.Context(), auth.HashSecret(f.token), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: hostname, OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *machineFixture) alerts(t *testing.T, agentID, state string) []store.Alert {
	t.Helper()
	items, _, err := f.db.ListAlerts(t.Context(), store.AlertFilter{AgentID: agentID, State: state}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func (f *machineFixture) events() []string {
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	return slices.Clone(f.rec.events)
}

func rules(as []store.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Rule+" "+a.State)
	}
	slices.Sort(out)
	return out
}

func TestUninstallResolvesAlertsAndSilencesOffline(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			opts := b.Options(t)
			// Enrolled and last seen ten minutes ago: both are due for the
			// offline alert, unless uninstalled.
			opts.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
			f := newMachineFixture(t, storetest.Open(t, opts))
			gone, kept := f.enroll(t, "gone"), f.enroll(t, "kept")
			// An open alert of the agent that goes away.
			if err := f.al.Watchdog(ctx, gone.ID, f.clientID, f.siteID, protocol.WatchdogReport{At: time.Now(),
				Agent:    protocol.AgentHealth{State: protocol.AgentRunning, Since: time.Now()},
				Services: []protocol.WatchedService{{Name: "Spooler", State: protocol.ServiceStopped, Alert: true}}}); err != nil {
				t.Fatal(err)
			}

			u, err := f.al.Uninstall(ctx, gone.ID, "steward-agent uninstall", "192.0.2.7")
			if err != nil {
				t.Fatal(err)
			}
			if !u.Changed || u.At.IsZero() {
				t.Fatalf("Uninstall = %+v, want changed with a time", u)
			}
			again, err := f.al.Uninstall(ctx, gone.ID, "second", "192.0.2.7")
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed || !again.At.Equal(u.At) {
				t.Errorf("second Uninstall = %+v, want unchanged at %v", again, u.At)
			}
			a, err := f.db.Agent(ctx, gone.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != store.StatusUninstalled || !a.UninstalledAt.Equal(u.At) || a.UninstallReason != "steward-agent uninstall" {
				t.Errorf("agent after uninstall: status %q at %v reason %q, want uninstalled at %v for the first reason",
					a.Status, a.UninstalledAt, a.UninstallReason, u.At)
			}
			resolved := f.alerts(t, gone.ID, store.AlertResolved)
			if len(resolved) != 1 || resolved[0].ResolvedBy != alerting.ResolvedByUninstall {
				t.Errorf("alerts after uninstall = %+v, want the service alert resolved by %q", resolved, alerting.ResolvedByUninstall)
			}

			if err := f.al.CheckOffline(ctx); err != nil {
				t.Fatal(err)
			}
			if got := rules(f.alerts(t, gone.ID, "unresolved")); len(got) != 0 {
				t.Errorf("uninstalled agent's alerts after the offline check = %v, want none", got)
			}
			if got, want := rules(f.alerts(t, kept.ID, "unresolved")), []string{"offline open"}; !cmp.Equal(got, want) {
				t.Errorf("installed agent's alerts = %v, want %v", got, want)
			}

			entries, _, err := f.db.ListAudit(ctx, store.AuditFilter{TargetID: gone.ID, Action: "agent.uninstall"}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].ActorType != "agent" || entries[0].ActorName != "gone" ||
				entries[0].IP != "192.0.2.7" || entries[0].Detail["reason"] != "steward-agent uninstall" {
				t.Errorf("audit = %+v, want one agent.uninstall by the agent with its reason and address", entries)
			}
			want := []string{"open service:Spooler all", "resolve service:Spooler all", "open offline all"}
			if got := f.events(); !cmp.Equal(got, want) {
				t.Errorf("notifications = %q, want %q", got, want)
			}

			// Filters: installed and uninstalled agents.
			yes, no := true, false
			for _, c := range []struct {
				uninstalled *bool
				want        []string
			}{{&yes, []string{"gone"}}, {&no, []string{"kept"}}, {nil, []string{"gone", "kept"}}} {
				list, _, err := f.db.ListAgents(ctx, store.AgentFilter{SiteID: f.siteID, Uninstalled: c.uninstalled}, store.Page{})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range list {
					got = append(got, a.Hostname)
				}
				if !cmp.Equal(got, c.want) {
					t.Errorf("ListAgents(uninstalled %v) = %v, want %v", c.uninstalled, got, c.want)
				}
			}
		})
	}
}

func TestWatchdogServiceAlerts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newMachineFixture(t, db)
		ag := f.enroll(t, "pc")
		report := func(agent string, services ...protocol.WatchedService) {
			t.Helper()
			now := time.Now().UTC().Truncate(time.Millisecond)
			r := protocol.WatchdogReport{At: now, Services: services,
				Agent: protocol.AgentHealth{State: agent, Reason: "exit status 2", Since: now.Add(-time.Minute), Restarts: 3}}
			if err := f.al.Watchdog(ctx, ag.ID, f.clientID, f.siteID, r); err != nil {
				t.Fatal(err)
			}
			a, err := db.Agent(ctx, ag.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Watchdog == nil || a.Watchdog.State != agent || a.Watchdog.Restarts != 3 || a.Watchdog.Reason != "exit status 2" ||
				!a.Watchdog.ReportedAt.Equal(now) || len(a.Watchdog.Services) != len(services) {
				t.Errorf("stored watchdog = %+v, want the latest report (%s, %d services)", a.Watchdog, agent, len(services))
			}
		}
		svc := func(name, state string, alert bool) protocol.WatchedService {
			return protocol.WatchedService{Name: name, State: state, Alert: alert, Reason: "exit 1"}
		}

		steps := []struct {
			name     string
			agent    string
			services []protocol.WatchedService
			want     []string // unresolved alerts
		}{
			{"all running", protocol.AgentRunning, []protocol.WatchedService{svc("Spooler", protocol.ServiceRunning, true)}, []string{}},
			{"stopped, missing, restart failed, and one without alert", protocol.AgentDown, []protocol.WatchedService{
				svc("Spooler", protocol.ServiceStopped, true), svc("nginx", protocol.ServiceMissing, true),
				svc("sshd", protocol.ServiceRestartFailed, true), svc("cron", protocol.ServiceStopped, false),
			}, []string{"service:Spooler open", "service:nginx open", "service:sshd open"}},
			{"still failing: no second alert", protocol.AgentHung, []protocol.WatchedService{
				svc("Spooler", protocol.ServiceStopped, true), svc("nginx", protocol.ServiceMissing, true),
				svc("sshd", protocol.ServiceRestartFailed, true),
			}, []string{"service:Spooler open", "service:nginx open", "service:sshd open"}},
			{"restarted and running clear; one no longer watched clears", protocol.AgentRunning, []protocol.WatchedService{
				svc("Spooler", protocol.ServiceRestarted, true), svc("nginx", protocol.ServiceRunning, true),
			}, []string{}},
		}
		for _, s := range steps {
			report(s.agent, s.services...)
			if got := rules(f.alerts(t, ag.ID, "unresolved")); !cmp.Equal(got, s.want) {
				t.Errorf("%s: unresolved alerts = %v, want %v", s.name, got, s.want)
			}
		}
		all := f.alerts(t, ag.ID, "")
		for _, a := range all {
			if a.Severity != string(policy.SeverityWarning) || a.Metric != "service" {
				t.Errorf("alert %s: severity %q metric %q, want warning and service", a.Rule, a.Severity, a.Metric)
			}
		}
		var msgs []string
		for _, a := range all {
			msgs = append(msgs, a.Message)
		}
		slices.Sort(msgs)
		want := []string{"Service Spooler stopped: exit 1", "Service nginx is missing: exit 1", "Service sshd stopped and could not be restarted: exit 1"}
		if !cmp.Equal(msgs, want) {
			t.Errorf("messages = %q, want %q", msgs, want)
		}
		if got := len(f.events()); got != 6 {
			t.Errorf("%d notifications, want 6 (three opened, three resolved): %q", got, f.events())
		}
	})
}

func TestHelpRequestTickets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newMachineFixture(t, db)
		ag := f.enroll(t, "pc")
		req := protocol.HelpRequest{ID: "h-1", User: `CORP\alice`, Message: "Printer <b>broken</b>\nagain", At: time.Now()}
		for i, want := range []bool{true, false} {
			created, err := f.al.HelpRequest(ctx, ag.ID, f.clientID, f.siteID, req)
			if err != nil {
				t.Fatal(err)
			}
			if created != want {
				t.Errorf("HelpRequest #%d created = %v, want %v", i+1, created, want)
			}
		}
		// Another agent may use the same ID.
		other := f.enroll(t, "other")
		if created, err := f.al.HelpRequest(ctx, other.ID, f.clientID, f.siteID, req); err != nil || !created {
			t.Errorf("same ID on another agent: created %v, err %v; want a ticket of its own", created, err)
		}
		open := f.alerts(t, ag.ID, "unresolved")
		if len(open) != 1 {
			t.Fatalf("%d tickets, want 1", len(open))
		}
		tk := open[0]
		if tk.Rule != "help:h-1" || tk.Metric != "help" || tk.Severity != "warning" || tk.Message != "Help requested by CORP\\alice: Printer <b>broken</b>\nagain" {
			t.Errorf("ticket = %+v", tk)
		}
		if got, want := f.events(), []string{"open help:h-1 all", "open help:h-1 all"}; !cmp.Equal(got, want) {
			t.Errorf("notifications = %q, want %q", got, want)
		}
		// A technician resolves it; the request sent again afterwards stays
		// recorded once.
		tech := access.Principal{User: store.User{ID: "u1", Email: "tech@example.com", Role: store.RoleTechnician}, Via: "session"}
		if _, err := f.al.Handle(ctx, tech, []string{tk.ID}, true); err != nil {
			t.Fatal(err)
		}
		if created, err := f.al.HelpRequest(ctx, ag.ID, f.clientID, f.siteID, req); err != nil || created {
			t.Errorf("resent after resolution: created %v, err %v; want the old request", created, err)
		}
		if n := len(f.alerts(t, ag.ID, "")); n != 1 {
			t.Errorf("%d tickets after a resend, want 1", n)
		}
	})
}
