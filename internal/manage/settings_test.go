package manage_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// wantField checks that err is a field error naming field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var inv *input.Error
	if !errors.As(err, &inv) || inv.Field != field {
		t.Errorf("%s: error %v, want a field error on %q", what, err, field)
	}
}

func TestSaveSMTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		owner := f.principal(store.RoleOwner)
		good := manage.SMTPInput{Host: "smtp.example.com", Username: "rmm", Password: "s3cret-pass", From: "Steward <rmm@example.com>"}

		for _, role := range []store.Role{store.RoleAdmin, store.RoleTechnician, store.RoleReadonly} {
			if _, err := f.svc.SaveSMTP(ctx, f.principal(role), good); !errors.Is(err, access.ErrForbidden) {
				t.Errorf("SaveSMTP as %s: %v, want access.ErrForbidden", role, err)
			}
		}
		bad := []struct {
			name  string
			edit  func(*manage.SMTPInput)
			field string
		}{
			{"no host", func(in *manage.SMTPInput) { in.Host = " " }, "host"},
			{"host with a space", func(in *manage.SMTPInput) { in.Host = "smtp example.com" }, "host"},
			{"unknown security", func(in *manage.SMTPInput) { in.Security = "ssl" }, "security"},
			{"no encryption to a remote relay", func(in *manage.SMTPInput) { in.Security = store.SMTPNone; in.Username = "" }, "security"},
			{"port out of range", func(in *manage.SMTPInput) { in.Port = 70000 }, "port"},
			{"auth without TLS", func(in *manage.SMTPInput) { in.Host, in.Security = "127.0.0.1", store.SMTPNone }, "username"},
			{"bad sender", func(in *manage.SMTPInput) { in.From = "rmm at example" }, "from"},
			{"sender with a header injection", func(in *manage.SMTPInput) { in.From = "a@example.com\r\nBcc: x@example.com" }, "from"},
			{"bad HELO", func(in *manage.SMTPInput) { in.HELO = "rmm example" }, "helo"},
			{"username without a password", func(in *manage.SMTPInput) { in.Password = "" }, "password"},
		}
		for _, tt := range bad {
			in := good
			tt.edit(&in)
			_, err := f.svc.SaveSMTP(ctx, owner, in)
			wantField(t, tt.name, err, tt.field)
		}
		if _, err := db.SMTPSettings(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("settings after refused saves: %v, want none stored", err)
		}

		got, err := f.svc.SaveSMTP(ctx, owner, good)
		if err != nil {
			t.Fatal(err)
		}
		if got.Port != 587 || got.Security != store.SMTPStartTLS || got.From != `"Steward" <rmm@example.com>` || got.UpdatedBy != "owner@example.com" {
			t.Errorf("saved %+v; want port 587, starttls, normalized sender, updated by the owner", got)
		}
		// An empty password keeps the stored one.
		in := good
		in.Password, in.Port = "", 2525
		if _, err := f.svc.SaveSMTP(ctx, owner, in); err != nil {
			t.Fatal(err)
		}
		if s, _ := db.SMTPSettings(ctx); s.Password != "s3cret-pass" || s.Port != 2525 {
			t.Errorf("after a save without password: password %q, port %d; want the old password, 2525", s.Password, s.Port)
		}
		// The kept password goes to no other host: it must be given again.
		in.Host = "relay.attacker.example"
		_, err = f.svc.SaveSMTP(ctx, owner, in)
		wantField(t, "new host without a password", err, "password")
		if s, _ := db.SMTPSettings(ctx); s.Host != "smtp.example.com" {
			t.Errorf("host after a refused change = %q, want smtp.example.com", s.Host)
		}
		in.Host = "SMTP.example.com" // host names ignore case
		if _, err := f.svc.SaveSMTP(ctx, owner, in); err != nil {
			t.Errorf("same host in other case without a password: %v", err)
		}
		// A local relay without authentication drops the password.
		if _, err := f.svc.SaveSMTP(ctx, owner, manage.SMTPInput{Host: "localhost", Security: store.SMTPNone, From: "rmm@example.com"}); err != nil {
			t.Fatal(err)
		}
		if s, _ := db.SMTPSettings(ctx); s.Password != "" || s.Port != 25 {
			t.Errorf("local relay: password %q, port %d; want none, 25", s.Password, s.Port)
		}
		entries := f.auditFor(t, "settings.smtp.update", "smtp")
		if len(entries) != 4 {
			t.Fatalf("%d audit entries, want 4", len(entries))
		}
		for _, e := range entries {
			for k, v := range e.Detail {
				if strings.Contains(v, "s3cret") {
					t.Errorf("audit detail %s = %q holds the password", k, v)
				}
			}
		}
		if got := []string{entries[3].Detail["password"], entries[2].Detail["password"], entries[1].Detail["password"], entries[0].Detail["password"]}; strings.Join(got, " ") != "changed unchanged unchanged removed" {
			t.Errorf("audit password notes %v, want [changed unchanged unchanged removed]", got)
		}
	})
}

func TestEmailChannels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		admin := f.principal(store.RoleAdmin)
		if _, _, err := f.svc.CreateChannel(ctx, f.principal(store.RoleTechnician), manage.ChannelInput{Name: "x", Kind: store.ChannelEmail, Recipients: []string{"a@example.com"}}); !errors.Is(err, access.ErrForbidden) {
			t.Errorf("technician creates a channel: %v, want access.ErrForbidden", err)
		}
		for _, tt := range []struct {
			name  string
			in    manage.ChannelInput
			field string
		}{
			{"no recipients", manage.ChannelInput{Name: "x", Kind: store.ChannelEmail, Recipients: []string{" "}}, "recipients"},
			{"bad recipient", manage.ChannelInput{Name: "x", Kind: store.ChannelEmail, Recipients: []string{"ops@example.com", "not-an-address"}}, "recipients"},
			{"too many", manage.ChannelInput{Name: "x", Kind: store.ChannelEmail, Recipients: manyAddresses(manage.MaxRecipients + 1)}, "recipients"},
			{"unknown kind", manage.ChannelInput{Name: "x", Kind: "sms"}, "kind"},
			{"email with a URL", manage.ChannelInput{Name: "x", Kind: store.ChannelEmail, URL: "https://x.example", Recipients: []string{"a@example.com"}}, "url"},
			{"webhook with recipients", manage.ChannelInput{Name: "x", URL: "https://x.example", Recipients: []string{"a@example.com"}}, "recipients"},
		} {
			_, _, err := f.svc.CreateChannel(ctx, admin, tt.in)
			wantField(t, tt.name, err, tt.field)
		}
		c, secret, err := f.svc.CreateChannel(ctx, admin, manage.ChannelInput{Name: "Ops", Kind: store.ChannelEmail,
			Recipients: []string{"Ops <ops@example.com>", "OPS@example.com", "noc@example.com"}, MinSeverity: "critical"})
		if err != nil {
			t.Fatal(err)
		}
		if secret != "" || strings.Join(c.Recipients, " ") != "ops@example.com noc@example.com" || !c.Enabled {
			t.Errorf("created %+v, secret %q; want bare, distinct recipients, enabled, no secret", c, secret)
		}
		off := false
		c, err = f.svc.UpdateChannel(ctx, admin, c.ID, manage.ChannelInput{Name: "Ops", Recipients: []string{"ops@example.com"}, MinSeverity: "info", Enabled: &off})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Channel(ctx, c.ID); got.Enabled || got.MinSeverity != "info" || len(got.Recipients) != 1 {
			t.Errorf("after update %+v; want disabled, info, one recipient", got)
		}
		_, err = f.svc.UpdateChannel(ctx, admin, c.ID, manage.ChannelInput{Name: "Ops", Kind: store.ChannelWebhook, URL: "https://x.example"})
		wantField(t, "changing the kind", err, "kind")

		// A webhook keeps its secret when the update leaves it empty.
		h, hookSecret, err := f.svc.CreateChannel(ctx, admin, manage.ChannelInput{Name: "Hook", URL: "https://hooks.example/a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateChannel(ctx, admin, h.ID, manage.ChannelInput{Name: "Hook", URL: "https://hooks.example/b"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Channel(ctx, h.ID); got.Secret != hookSecret || got.URL != "https://hooks.example/b" {
			t.Errorf("after update: secret kept %v, URL %q", got.Secret == hookSecret, got.URL)
		}
		if _, err := f.svc.UpdateChannel(ctx, admin, "missing", manage.ChannelInput{Name: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("updating a missing channel: %v, want ErrNotFound", err)
		}
		if n := len(f.auditFor(t, "channel.update", h.ID)); n != 1 {
			t.Errorf("%d channel.update entries, want 1", n)
		}
	})
}

func TestPolicyRoutesNameChannels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		c, _, err := f.svc.CreateChannel(ctx, access.Console(), manage.ChannelInput{Name: "Hook", URL: "https://hooks.example/a"})
		if err != nil {
			t.Fatal(err)
		}
		missing := store.NewID()
		_, err = f.svc.CreatePolicy(ctx, access.Console(), manage.PolicyInput{Name: "p", Document: []byte(`{"notifications":{"critical":["` + c.ID + `","` + missing + `"],"info":[]}}`)})
		var pe *manage.PolicyInvalidError
		if !errors.As(err, &pe) || len(pe.Fields) != 1 || pe.Fields[0].Path != "notifications.critical" || !strings.Contains(pe.Fields[0].Message, missing) {
			t.Fatalf("policy routing to a missing channel: %v, want a field error on notifications.critical naming it", err)
		}
		p, err := f.svc.CreatePolicy(ctx, access.Console(), manage.PolicyInput{Name: "p", Document: []byte(`{"notifications":{"critical":["` + c.ID + `"],"warning":["all"]}}`)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.UpdatePolicy(ctx, access.Console(), p.ID, manage.PolicyInput{Name: "p", Document: []byte(`{"notifications":{"warning":["` + missing + `"]}}`)})
		if !errors.As(err, &pe) || pe.Fields[0].Path != "notifications.warning" {
			t.Errorf("update routing to a missing channel: %v, want a field error on notifications.warning", err)
		}
	})
}

// manyAddresses returns n distinct email addresses.
func manyAddresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@example.com", i)
	}
	return out
}
