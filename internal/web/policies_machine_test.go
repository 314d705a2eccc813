package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// The watchdog and tray sections are edited like the others: text in a
// text input, lists as JSON, each error beside its field.
func TestPolicyEditorMachineSections(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	pol := e.mustPolicy("Desk", `{}`)
	admin := e.signedIn(store.RoleAdmin)
	form := url.Values{"name": {"Desk"},
		"set.tray.company": {"1"}, "v.tray.company": {"  Acme IT & Co  "},
		"set.tray.links": {"1"}, "v.tray.links": {`[{"title": "Portal", "url": "https://portal.acme.example"}]`},
		"set.watchdog.services": {"1"}, "v.watchdog.services": {`[{"name": "Spooler", "restart": true, "alert": true}]`},
	}
	res := admin.post("/policies/"+pol.ID, form)
	wantStatus(t, "save tray and watchdog", res, http.StatusSeeOther)
	stored, _ := e.db.Policy(context.Background(), pol.ID)
	want := `{"tray":{"company":"Acme IT \u0026 Co","links":[{"title":"Portal","url":"https://portal.acme.example"}]},"watchdog":{"services":[{"name":"Spooler","restart":true,"alert":true}]}}`
	if string(stored.Document) != want {
		t.Errorf("stored %s\nwant   %s", stored.Document, want)
	}
	res = admin.get("/policies/" + pol.ID)
	mustContain(t, "company row", editorRow(t, res.body, "tray.company"), `type="text"`, `value="Acme IT &amp; Co"`)
	mustContain(t, "services row", editorRow(t, res.body, "watchdog.services"), "<textarea", `Built-in default: none`)

	form.Set("v.tray.links", `[{"title": "Files", "url": "file:///c:/"}]`)
	res = admin.post("/policies/"+pol.ID, form)
	wantStatus(t, "save a file link", res, http.StatusBadRequest)
	mustContain(t, "links row", editorRow(t, res.body, "tray.links"), "aria-invalid", "URL must start with https://, http://, mailto: or tel:")
}

func TestPolicyValueMachineKinds(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{"", "none"},
		{"Acme IT", "Acme IT"},
		{[]policy.WatchedService{}, "none"},
		{[]policy.Link{}, "none"},
		{[]policy.WatchedService{{Name: "Spooler", Restart: true, Alert: true}, {Name: "nginx"}}, "Spooler (restarted, alerts); nginx (checked only)"},
		{[]policy.Link{{Title: "Portal", URL: "https://p.example"}, {Title: "Call", URL: "tel:+1555"}}, "Portal: https://p.example; Call: tel:+1555"},
	} {
		if got := policyValue("x", tt.v, nil); got != tt.want {
			t.Errorf("policyValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
