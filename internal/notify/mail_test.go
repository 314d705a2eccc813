package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/alerting"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

const testPublicURL = "http://steward.test:8080"

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// clock is a database clock tests move forward to make retries due.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eachDB runs fn on SQLite and, when configured, PostgreSQL, each with a
// clock of its own.
func eachDB(t *testing.T, fn func(t *testing.T, db *store.DB, clk *clock)) {
	t.Helper()
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			// A minute ahead, so what notify queues for "now" is due.
			clk := &clock{now: time.Now().Add(time.Minute)}
			opts := b.Options(t)
			opts.Now = clk.Now
			fn(t, storetest.Open(t, opts), clk)
		})
	}
}

func saveSMTP(t *testing.T, db *store.DB, in manage.SMTPInput) {
	t.Helper()
	if in.From == "" {
		in.From = "Steward <rmm@example.com>"
	}
	if _, err := manage.New(db).SaveSMTP(t.Context(), access.Console(), in); err != nil {
		t.Fatalf("SaveSMTP(%+v): %v", in, err)
	}
}

func TestSendTestMail(t *testing.T) {
	t.Parallel()
	auth := manage.SMTPInput{Username: relayUser, Password: relayPassword}
	tests := []struct {
		name     string
		mode     relayMode
		settings manage.SMTPInput
		host     string // default 127.0.0.1
		trust    bool   // the client trusts the relay's certificate
		wantErr  string
		wantUser string
		wantTLS  bool
	}{
		{name: "plain relay on localhost", mode: relayPlain, settings: manage.SMTPInput{Security: store.SMTPNone}},
		{name: "STARTTLS with AUTH", mode: relayStartTLS, settings: with(auth, store.SMTPStartTLS), trust: true, wantUser: relayUser, wantTLS: true},
		{name: "implicit TLS with AUTH", mode: relayImplicitTLS, settings: with(auth, store.SMTPTLS), trust: true, wantUser: relayUser, wantTLS: true},
		{name: "STARTTLS without AUTH", mode: relayStartTLS, settings: manage.SMTPInput{Security: store.SMTPStartTLS}, trust: true, wantTLS: true},
		{name: "wrong password", mode: relayStartTLS, trust: true,
			settings: manage.SMTPInput{Security: store.SMTPStartTLS, Username: relayUser, Password: "wrong"}, wantErr: "AUTH: 535"},
		{name: "untrusted certificate", mode: relayStartTLS, settings: with(auth, store.SMTPStartTLS), wantErr: "certificate"},
		{name: "certificate for another name", mode: relayImplicitTLS, settings: with(auth, store.SMTPTLS), host: "localhost", trust: true,
			wantErr: "match localhost"},
		{name: "relay without STARTTLS", mode: relayPlain, settings: manage.SMTPInput{Security: store.SMTPStartTLS}, wantErr: "does not offer STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, store.Options{DataDir: t.TempDir()})
			r := newRelay(t, tt.mode)
			in := tt.settings
			in.Host, in.Port = cmpOr(tt.host, "127.0.0.1"), r.Port
			saveSMTP(t, db, in)
			opts := notify.Options{PublicURL: testPublicURL, MailTimeout: 10 * time.Second}
			if tt.trust {
				opts.RootCAs = r.Pool
			}
			err := notify.New(db, discard(), opts).SendTestMail(t.Context(), "Ops Team <ops@example.com>")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SendTestMail() = %v, want an error containing %q", err, tt.wantErr)
				}
				if got := r.messages(); len(got) != 0 {
					t.Errorf("relay got %d messages after a failure, want 0", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("SendTestMail() = %v", err)
			}
			msgs := r.messages()
			if len(msgs) != 1 {
				t.Fatalf("relay got %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != "rmm@example.com" || !cmp.Equal(got.To, []string{"ops@example.com"}) || got.User != tt.wantUser || got.TLS != tt.wantTLS {
				t.Errorf("envelope from %q to %v, user %q, TLS %v; want rmm@example.com to [ops@example.com], user %q, TLS %v",
					got.From, got.To, got.User, got.TLS, tt.wantUser, tt.wantTLS)
			}
			m := parseMessage(t, got.Data)
			if m.Subject != "Steward test notification" {
				t.Errorf("subject %q, want %q", m.Subject, "Steward test notification")
			}
			for _, want := range []string{"State:     test", "Dashboard: " + testPublicURL} {
				if !strings.Contains(m.Body, want) {
					t.Errorf("body lacks %q:\n%s", want, m.Body)
				}
			}
			if from, err := m.Header.AddressList("From"); err != nil || from[0].String() != `"Steward" <rmm@example.com>` {
				t.Errorf("From %v, %v; want Steward <rmm@example.com>", from, err)
			}
			if _, err := m.Header.Date(); err != nil {
				t.Errorf("Date header: %v", err)
			}
			if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("Message-ID %q, want <...@example.com>", id)
			}
		})
	}
}

func with(in manage.SMTPInput, security string) manage.SMTPInput {
	in.Security = security
	return in
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fixedPolicy gives every agent the same effective policy.
type fixedPolicy struct{ eff policy.Effective }

func (f fixedPolicy) For(context.Context, string, string, string) (policy.Effective, error) {
	return f.eff, nil
}

// enrolled is an agent "pc-01" in client Acme, site HQ.
func enrolled(t *testing.T, db *store.DB) (store.Agent, store.Client, store.Site) {
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
	ag, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: "pc-01", OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	return ag, c, s
}

func TestAlertEmails(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		r := newRelay(t, relayStartTLS)
		saveSMTP(t, db, manage.SMTPInput{Host: "127.0.0.1", Port: r.Port, Security: store.SMTPStartTLS, Username: relayUser, Password: relayPassword})
		ag, c, s := enrolled(t, db)
		svc := manage.New(db)
		ch, _, err := svc.CreateChannel(ctx, access.Console(), manage.ChannelInput{
			Name: "Ops", Kind: store.ChannelEmail, Recipients: []string{"ops@example.com", "Night Shift <noc@example.com>"}})
		if err != nil {
			t.Fatal(err)
		}
		n := notify.New(db, discard(), notify.Options{PublicURL: testPublicURL, RootCAs: r.Pool})
		doc, err := policy.Decode([]byte(`{"thresholds":{"cpu":{"trigger":50,"clear":40,"for":"0s"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		eff := policy.Resolve(policy.Assignment{Level: policy.LevelSite, PolicyID: "p", Document: doc})
		al := alerting.New(db, fixedPolicy{eff}, bus.NewLocal(), discard(), n)
		observe := func(v float64) {
			al.Observe(ctx, ag.ID, c.ID, s.ID, []protocol.Sample{{Time: time.Now(), Values: map[string]float64{"cpu.percent": v}}})
			if err := n.Deliver(ctx); err != nil {
				t.Fatal(err)
			}
		}
		observe(90)
		observe(30)
		msgs := r.messages()
		if len(msgs) != 2 {
			t.Fatalf("relay got %d messages, want 2 (opened, resolved)", len(msgs))
		}
		for i, want := range []struct{ subject, state string }{
			{"[WARNING] Alert opened: cpu on pc-01", "opened"},
			{"[WARNING] Alert resolved: cpu on pc-01", "resolved"},
		} {
			if !cmp.Equal(msgs[i].To, []string{"ops@example.com", "noc@example.com"}) {
				t.Errorf("message %d to %v, want both recipients", i, msgs[i].To)
			}
			m := parseMessage(t, msgs[i].Data)
			if m.Subject != want.subject {
				t.Errorf("message %d subject %q, want %q", i, m.Subject, want.subject)
			}
			for _, line := range []string{"State:     " + want.state, "Severity:  warning", "Rule:      cpu", "Value:     90",
				"Agent:     pc-01", "Client:    Acme", "Site:      HQ", "Agent page: " + testPublicURL + "/agents/" + ag.ID} {
				if !strings.Contains(m.Body, line) {
					t.Errorf("message %d body lacks %q:\n%s", i, line, m.Body)
				}
			}
		}
		log, err := db.ListDeliveries(ctx, ch.ID, store.Page{})
		if err != nil || len(log) != 2 || log[0].State != "sent" || log[0].LastStatus != 250 {
			t.Errorf("delivery log %+v, %v; want 2 sent with status 250", log, err)
		}

		// A relay that refuses the recipients: the delivery is logged with
		// the relay's answer and retried until it goes through.
		r.setRejectRcpt(true)
		n.AlertChanged(ctx, store.Alert{ID: "al-x", AgentID: ag.ID, Hostname: "pc-01", Rule: "disk:/", Severity: "critical"}, true, []string{policy.AllChannels})
		for attempt := 1; attempt <= 2; attempt++ {
			if err := n.Deliver(ctx); err != nil {
				t.Fatal(err)
			}
			log, _ := db.ListDeliveries(ctx, ch.ID, store.Page{Limit: 1})
			d := log[0]
			if d.State != "pending" || d.Attempts != attempt || d.LastStatus != 550 || !strings.Contains(d.LastError, "RCPT TO <ops@example.com>: 550") {
				t.Fatalf("after refused attempt %d: %+v; want pending, %d attempts, status 550 and the relay's answer", attempt, d, attempt)
			}
			clk.Advance(time.Hour) // past the backoff
		}
		r.setRejectRcpt(false)
		if err := n.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
		log, _ = db.ListDeliveries(ctx, ch.ID, store.Page{Limit: 1})
		if d := log[0]; d.State != "sent" || d.Attempts != 3 || d.LastError != "" {
			t.Errorf("after the relay accepted: %+v; want sent after 3 attempts, no error", d)
		}
		if got := len(r.messages()); got != 3 {
			t.Errorf("relay has %d messages, want 3", got)
		}

		// The channel's test button goes through the same path.
		if code, err := n.Test(ctx, ch.ID); err != nil || code != 250 {
			t.Errorf("Test(email channel) = %d, %v; want 250, nil", code, err)
		}
	})
}

func TestSMTPNotConfigured(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB, _ *clock) {
		ctx := t.Context()
		ch, _, err := manage.New(db).CreateChannel(ctx, access.Console(), manage.ChannelInput{
			Name: "Ops", Kind: store.ChannelEmail, Recipients: []string{"ops@example.com"}, MinSeverity: "info"})
		if err != nil {
			t.Fatal(err)
		}
		n := notify.New(db, discard(), notify.Options{})
		n.AlertChanged(ctx, store.Alert{ID: "a1", Rule: "cpu", Severity: "warning"}, true, []string{policy.AllChannels})
		if err := n.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
		log, err := db.ListDeliveries(ctx, ch.ID, store.Page{})
		if err != nil || len(log) != 1 || log[0].State != "pending" || !strings.Contains(log[0].LastError, "SMTP is not configured") {
			t.Errorf("delivery log %+v, %v; want one pending delivery whose error says SMTP is not configured", log, err)
		}
		if _, err := n.Test(ctx, ch.ID); !errors.Is(err, notify.ErrSMTPNotConfigured) {
			t.Errorf("Test() = %v, want ErrSMTPNotConfigured", err)
		}
		if err := n.SendTestMail(ctx, "ops@example.com"); !errors.Is(err, notify.ErrSMTPNotConfigured) {
			t.Errorf("SendTestMail() = %v, want ErrSMTPNotConfigured", err)
		}
	})
}

func TestRouting(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB, _ *clock) {
		ctx := t.Context()
		svc := manage.New(db)
		off := false
		mk := func(in manage.ChannelInput) store.Channel {
			t.Helper()
			if in.Kind == "" {
				in.URL = "https://hooks.example/" + in.Name
			}
			c, _, err := svc.CreateChannel(ctx, access.Console(), in)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		x := mk(manage.ChannelInput{Name: "x", MinSeverity: "info"})
		y := mk(manage.ChannelInput{Name: "y", Kind: store.ChannelEmail, Recipients: []string{"y@example.com"}, MinSeverity: "info"})
		z := mk(manage.ChannelInput{Name: "z", MinSeverity: "critical"})
		mk(manage.ChannelInput{Name: "disabled", MinSeverity: "info", Enabled: &off})
		gone := mk(manage.ChannelInput{Name: "gone", MinSeverity: "info"})
		sitePolicy := func(js string) policy.Effective {
			// Saved through manage, as an operator would, while "gone" exists.
			p, err := svc.CreatePolicy(ctx, access.Console(), manage.PolicyInput{Name: store.NewID(), Document: []byte(js)})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := policy.Decode(p.Document)
			if err != nil {
				t.Fatal(err)
			}
			return policy.Resolve(policy.Assignment{Level: policy.LevelSite, PolicyID: p.ID, Document: doc})
		}
		criticalToX := sitePolicy(`{"notifications":{"critical":["` + x.ID + `"]}}`)
		silentInfo := sitePolicy(`{"notifications":{"info":[]}}`)
		toGone := sitePolicy(`{"notifications":{"warning":["` + gone.ID + `","` + y.ID + `"]}}`)
		if err := svc.DeleteChannel(ctx, access.Console(), gone.ID); err != nil {
			t.Fatal(err)
		}
		byID := map[string]string{x.ID: "x", y.ID: "y", z.ID: "z"}

		tests := []struct {
			name     string
			eff      policy.Effective
			severity string
			want     []string
			wantLog  string
		}{
			{"default warning: every enabled channel that admits it", policy.Resolve(), "warning", []string{"x", "y"}, ""},
			{"default critical", policy.Resolve(), "critical", []string{"x", "y", "z"}, ""},
			{"site sends critical only to x", criticalToX, "critical", []string{"x"}, ""},
			{"site keeps the default for warning", criticalToX, "warning", []string{"x", "y"}, ""},
			{"[] silences info", silentInfo, "info", nil, ""},
			{"deleted channel skipped", toGone, "warning", []string{"y"}, "deleted notification channel"},
			{"channel minimum severity still applies", sitePolicy(`{"notifications":{"warning":["` + z.ID + `"]}}`), "warning", nil, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var logs bytes.Buffer
				n := notify.New(db, slog.New(slog.NewTextHandler(&logs, nil)), notify.Options{})
				before := map[string]int{}
				for id := range byID {
					l, _ := db.ListDeliveries(ctx, id, store.Page{Limit: 1000})
					before[id] = len(l)
				}
				n.AlertChanged(ctx, store.Alert{ID: store.NewID(), Rule: "cpu", Severity: tt.severity}, true, alerting.Route(tt.eff, tt.severity))
				var got []string
				for _, id := range []string{x.ID, y.ID, z.ID} {
					l, _ := db.ListDeliveries(ctx, id, store.Page{Limit: 1000})
					if len(l) > before[id] {
						got = append(got, byID[id])
					}
				}
				if !cmp.Equal(got, tt.want) {
					t.Errorf("queued for %v, want %v", got, tt.want)
				}
				if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
					t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
				}
			})
		}
	})
}
