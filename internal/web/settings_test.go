package web_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/store"
)

func TestSettingsPagesForEveryRole(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	c, _, err := e.mgr.CreateChannel(context.Background(), access.Console(), manage.ChannelInput{Name: "Ops mail", Kind: store.ChannelEmail, Recipients: []string{"ops@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	manages := map[store.Role]bool{store.RoleOwner: true, store.RoleAdmin: true}
	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := e.signedIn(role)
			for _, p := range []string{"/settings/notifications", "/settings/notifications/" + c.ID} {
				res := b.get(p)
				wantStatus(t, "GET "+p, res, http.StatusOK)
				mustContain(t, p, res.body, `href="/settings/notifications" aria-current="page">Settings</a>`, "Ops mail")
				if got := strings.Contains(res.body, `method="post"`+` action="/settings/notifications`); got != manages[role] {
					t.Errorf("%s shows channel forms: %v, want %v", p, got, manages[role])
				}
			}
			smtp := b.get("/settings/smtp")
			if role == store.RoleOwner {
				wantStatus(t, "owner GET /settings/smtp", smtp, http.StatusOK)
				mustContain(t, "channels page", b.get("/settings/notifications").body, `href="/settings/smtp"`)
			} else {
				wantStatus(t, string(role)+" GET /settings/smtp", smtp, http.StatusForbidden)
				mustNotContain(t, "channels page", b.get("/settings/notifications").body, `href="/settings/smtp"`)
			}
		})
	}
	t.Run("refused posts", func(t *testing.T) {
		for role, paths := range map[store.Role][]string{
			store.RoleTechnician: {"/settings/notifications", "/settings/notifications/" + c.ID, "/settings/notifications/" + c.ID + "/test", "/settings/notifications/" + c.ID + "/delete"},
			store.RoleAdmin:      {"/settings/smtp", "/settings/smtp/test"},
		} {
			b := e.signedIn(role)
			for _, p := range paths {
				res := b.post(p, url.Values{"name": {"x"}, "host": {"smtp.example.com"}, "from": {"a@example.com"}, "to": {"a@example.com"}})
				wantStatus(t, string(role)+" POST "+p, res, http.StatusForbidden)
			}
		}
		b := e.signedIn(store.RoleOwner)
		wantStatus(t, "POST without a CSRF token", b.postRaw("/settings/smtp", url.Values{"host": {"smtp.example.com"}}), http.StatusForbidden)
		if _, err := e.db.SMTPSettings(context.Background()); err == nil {
			t.Error("a refused post stored SMTP settings")
		}
		if got, _ := e.db.Channel(context.Background(), c.ID); got.Name != "Ops mail" {
			t.Errorf("channel after refused posts: %+v", got)
		}
	})
}

func TestChannelPages(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleAdmin)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)

	// Errors come back next to their field, with the input kept.
	res := b.post("/settings/notifications", url.Values{"name": {"Ops"}, "kind": {"email"}, "recipients": {"ops@example.com\nnot-an-address"}, "min_severity": {"warning"}})
	wantStatus(t, "bad recipient", res, http.StatusBadRequest)
	mustContain(t, "bad recipient page", res.body, `id="recipients-error"`, `&#34;not-an-address&#34; is not an email address`,
		`aria-invalid="true">ops@example.com`)
	res = b.post("/settings/notifications", url.Values{"name": {"Hook"}, "kind": {"webhook"}, "url": {"ftp://x"}})
	wantStatus(t, "bad URL", res, http.StatusBadRequest)
	mustContain(t, "bad URL page", res.body, `id="url-error"`, `value="ftp://x"`)

	// A webhook shows its secret once.
	res = b.post("/settings/notifications", url.Values{"name": {"Hook"}, "kind": {"webhook"}, "url": {hook.URL}, "min_severity": {"critical"}, "recipients": {"ignored@example.com"}})
	wantStatus(t, "create webhook", res, http.StatusCreated)
	secret := regexpFind(`<code id="channel-secret" class="mono">(whsec_[A-Za-z0-9_-]+)</code>`, res.body)
	if secret == "" {
		t.Fatalf("new webhook page shows no secret:\n%s", res.body)
	}
	channels, _ := e.db.ListChannels(context.Background())
	if len(channels) != 1 || channels[0].Recipients != nil {
		t.Fatalf("channels %+v, want one webhook without recipients", channels)
	}
	hookURL := "/settings/notifications/" + channels[0].ID
	page := b.get(hookURL)
	mustNotContain(t, "webhook page", page.body, secret)
	mustContain(t, "webhook page", page.body, "A secret is set. Leave empty to keep it.", "Nothing sent yet.")

	// The test button sends at once and the attempt is in the log.
	res = b.post(hookURL+"/test", nil)
	wantStatus(t, "test webhook", res, http.StatusOK)
	mustContain(t, "test result", res.body, "Delivered (HTTP 204).", `delivery-sent">sent</span>`, ">test</td>")

	// Edit: disable, keep the secret.
	res = b.post(hookURL, url.Values{"name": {"Hook"}, "url": {hook.URL + "/v2"}, "min_severity": {"warning"}})
	wantStatus(t, "update webhook", res, http.StatusSeeOther)
	got, _ := e.db.Channel(context.Background(), channels[0].ID)
	if got.Enabled || got.URL != hook.URL+"/v2" || got.Secret != secret || got.MinSeverity != "warning" {
		t.Errorf("after edit %+v; want disabled, new URL, same secret, warning", got)
	}

	// An email channel without SMTP settings says so, and its test fails
	// with the reason.
	res = b.post("/settings/notifications", url.Values{"name": {"Ops"}, "kind": {"email"}, "recipients": {"ops@example.com, noc@example.com"}, "url": {"https://ignored"}})
	wantStatus(t, "create email channel", res, http.StatusSeeOther)
	mailURL := location(res)
	res = b.get(mailURL)
	mustContain(t, "email channel page", res.body, "SMTP is not configured", "ops@example.com\nnoc@example.com</textarea>")
	res = b.post(mailURL+"/test", nil)
	mustContain(t, "email test", res.body, "Test failed: SMTP is not configured", `delivery-failed">failed</span>`)
	res = b.post(mailURL, url.Values{"name": {"hook"}, "recipients": {"ops@example.com"}, "enabled": {"on"}})
	wantStatus(t, "rename onto another channel", res, http.StatusConflict)
	mustContain(t, "rename page", res.body, `id="name-error"`, "already exists")

	list := b.get("/settings/notifications")
	mustContain(t, "channels list", list.body, ">Hook</a>", ">Ops</a>", "ops@example.com, noc@example.com", "disabled")

	res = b.post(mailURL+"/delete", nil)
	wantStatus(t, "delete", res, http.StatusSeeOther)
	wantStatus(t, "deleted channel page", b.get(mailURL), http.StatusNotFound)
	mustContain(t, "audit", b.get("/audit?action=channel.").body, "channel.create", "channel.update", "channel.delete")
}

func TestSMTPPage(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleOwner)
	res := b.get("/settings/smtp")
	mustContain(t, "empty SMTP page", res.body, "Not configured", `<option value="starttls" selected>`)
	mustNotContain(t, "empty SMTP page", res.body, "Send test email")

	res = b.post("/settings/smtp", url.Values{"host": {"smtp.example.com"}, "security": {"none"}, "from": {"rmm@example.com"}})
	wantStatus(t, "unencrypted remote relay", res, http.StatusBadRequest)
	mustContain(t, "bad security page", res.body, `id="security-error"`, "only allowed for a relay on this host", `value="smtp.example.com"`)
	res = b.post("/settings/smtp", url.Values{"host": {"smtp.example.com"}, "port": {"x"}, "from": {"rmm@example.com"}})
	wantStatus(t, "bad port", res, http.StatusBadRequest)
	mustContain(t, "bad port page", res.body, `id="port-error"`)

	// A port where nothing listens, so the test email fails with the reason.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	res = b.post("/settings/smtp", url.Values{"host": {"127.0.0.1"}, "port": {port}, "security": {"tls"}, "username": {"rmm"},
		"password": {"pa55-word-xyz"}, "from": {"Steward <rmm@example.com>"}})
	wantStatus(t, "save", res, http.StatusSeeOther)
	res = b.get("/settings/smtp")
	mustContain(t, "SMTP page", res.body, `value="127.0.0.1"`, `value="`+port+`"`, "A password is set.", "owner@example.com", "Send test email")
	mustNotContain(t, "SMTP page", res.body, "pa55-word-xyz")
	if s, _ := e.db.SMTPSettings(context.Background()); s.Password != "pa55-word-xyz" {
		t.Errorf("stored password %q", s.Password)
	}
	// Saving without a password keeps it.
	wantStatus(t, "save again", b.post("/settings/smtp", url.Values{"host": {"127.0.0.1"}, "port": {port}, "security": {"tls"}, "username": {"rmm"},
		"from": {"rmm@example.com"}}), http.StatusSeeOther)
	if s, _ := e.db.SMTPSettings(context.Background()); s.Password != "pa55-word-xyz" {
		t.Errorf("password after a save without one %q, want it kept", s.Password)
	}

	res = b.post("/settings/smtp/test", url.Values{"to": {"nobody"}})
	wantStatus(t, "bad test address", res, http.StatusBadRequest)
	mustContain(t, "bad test address", res.body, `id="to-error"`)
	res = b.post("/settings/smtp/test", url.Values{"to": {"ops@example.com"}})
	wantStatus(t, "test email", res, http.StatusOK)
	mustContain(t, "test email", res.body, "Test failed: connect to 127.0.0.1:"+port)
	mustContain(t, "audit", b.get("/audit?action=settings.").body, "settings.smtp.update")
	mustNotContain(t, "audit", b.get("/audit").body, "pa55-word-xyz")
}
