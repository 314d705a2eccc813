package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// mustPolicy creates a policy with a document, as the API would.
func editorRow(t *testing.T, body, path string) string {
	t.Helper()
	id := "row-f-" + strings.ReplaceAll(path, ".", "-")
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("editor has no row %s", id)
	}
	row := body[i:]
	end := strings.Index(row, "</tr>")
	return row[:end]
}

func (e *testEnv) mustPolicy(name, doc string) store.Policy {
	e.t.Helper()
	p, err := e.mgr.CreatePolicy(context.Background(), access.Console(), manage.PolicyInput{Name: name, Document: json.RawMessage(doc)})
	if err != nil {
		e.t.Fatalf("create policy %s: %v", name, err)
	}
	return p
}

func (e *testEnv) mustAssign(level, target, policyID string) {
	e.t.Helper()
	if err := e.mgr.Assign(context.Background(), access.Console(), level, target, policyID); err != nil {
		e.t.Fatalf("assign %s at %s %s: %v", policyID, level, target, err)
	}
}

// editorRow returns the editor's table row of a field.
func TestPolicyEditor(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	e.mustPolicy("unused", `{}`)
	e.mgr.UpdatePolicy(context.Background(), access.Console(), store.DefaultPolicyID,
		manage.PolicyInput{Name: "Default", Document: json.RawMessage(`{"metrics": {"interval": "30s"}}`)})
	srv := e.mustPolicy("Servers", `{"thresholds": {"cpu": {"trigger": 85}}}`)
	e.mustAssign(store.LevelSite, f.site.ID, srv.ID)
	admin := e.signedIn(store.RoleAdmin)

	res := admin.get("/policies")
	wantStatus(t, "GET /policies", res, http.StatusOK)
	mustContain(t, "policies page", res.body, `href="/policies/`+srv.ID+`"`, "Site HQ (Acme)", `href="/policies"`, "Default level")

	res = admin.get("/policies/" + srv.ID)
	wantStatus(t, "GET editor", res, http.StatusOK)
	// Every field of the schema is there.
	for _, sp := range policy.Specs() {
		editorRow(t, res.body, sp.Path)
	}
	// The first assignment is the context by default.
	mustContain(t, "editor", res.body, `<option value="site:`+f.site.ID+`" selected>`)
	set := editorRow(t, res.body, "thresholds.cpu.trigger")
	mustContain(t, "set field", set, "set here", `value="85"`, `Site HQ: policy &#34;Servers&#34;`)
	inh := editorRow(t, res.body, "metrics.interval")
	mustContain(t, "inherited field", inh, "inherited", `value="30s"`, `Default level: policy &#34;Default&#34;`)
	mustNotContain(t, "inherited field", inh, "checked")
	builtin := editorRow(t, res.body, "metrics.retention.raw")
	mustContain(t, "built-in field", builtin, "built-in default", `value="7d"`, "7 days", "90s, 5m, 12h or 7d")
	// Sizes are in MB; notification routes are boxes named after the channels.
	mustContain(t, "size field", editorRow(t, res.body, "metrics.buffer.max_bytes"), `value="16 MB"`, "kB, MB or GB")
	mustContain(t, "route field", editorRow(t, res.body, "notifications.critical"),
		`<input type="checkbox" name="v.notifications.critical" value="all" id="f-notifications-critical-0" data-field="f-notifications-critical" checked> All channels`)
	// Kinds without an input of their own are JSON text.
	mustContain(t, "mounts field", editorRow(t, res.body, "thresholds.disk_mounts"), `<textarea id="f-thresholds-disk_mounts"`, "{}")

	// The default-level context: the site's policy does not apply there.
	res = admin.get("/policies/" + srv.ID + "?at=default:")
	mustContain(t, "editor at default", editorRow(t, res.body, "thresholds.cpu.trigger"), "built-in default", "set here")

	t.Run("InvalidValuesComeBackBesideTheirInputs", func(t *testing.T) {
		form := url.Values{"name": {"Servers"}, "description": {"For servers"},
			"set.thresholds.cpu.trigger": {"1"}, "v.thresholds.cpu.trigger": {"85"},
			"set.metrics.interval": {"1"}, "v.metrics.interval": {"2s"},
			"set.metrics.buffer.max_samples": {"1"}, "v.metrics.buffer.max_samples": {"lots"},
			"set.thresholds.disk_mounts": {"1"}, "v.thresholds.disk_mounts": {`{"/data": `},
		}
		res := admin.post("/policies/"+srv.ID+"?at=site:"+f.site.ID, form)
		wantStatus(t, "save invalid", res, http.StatusBadRequest)
		mustContain(t, "interval row", editorRow(t, res.body, "metrics.interval"), "must be at least 5s", `value="2s"`, "aria-invalid")
		mustContain(t, "buffer row", editorRow(t, res.body, "metrics.buffer.max_samples"), "must be a number", `value="lots"`)
		mustContain(t, "mounts row", editorRow(t, res.body, "thresholds.disk_mounts"), "must be valid JSON", `{&#34;/data&#34;: </textarea>`)
		mustContain(t, "editor", res.body, `id="form-errors"`, `value="For servers"`)
		pol, _ := e.db.Policy(context.Background(), srv.ID)
		if string(pol.Document) != `{"thresholds":{"cpu":{"trigger":85}}}` {
			t.Errorf("document after a refused save: %s", pol.Document)
		}
		// A cross-field rule names the field it blames.
		form = url.Values{"name": {"Servers"}, "set.thresholds.cpu.trigger": {"1"}, "v.thresholds.cpu.trigger": {"50"},
			"set.thresholds.cpu.clear": {"1"}, "v.thresholds.cpu.clear": {"60"}}
		res = admin.post("/policies/"+srv.ID, form)
		wantStatus(t, "save crossed levels", res, http.StatusBadRequest)
		mustContain(t, "clear row", editorRow(t, res.body, "thresholds.cpu.clear"), "must be below thresholds.cpu.trigger")
		// A bad name is shown beside the name.
		res = admin.post("/policies/"+srv.ID, url.Values{"name": {"  "}})
		wantStatus(t, "save without a name", res, http.StatusBadRequest)
		mustContain(t, "editor", res.body, `id="name-error"`, "Name is required")
	})

	t.Run("SaveSetsOnlyTheFieldsMarkedSetHere", func(t *testing.T) {
		form := url.Values{"name": {"Servers"}, "description": {"For servers"},
			"set.thresholds.cpu.trigger": {"1"}, "v.thresholds.cpu.trigger": {"88.5"},
			"v.metrics.interval":          {"45s"}, // not marked: stays inherited
			"set.thresholds.cpu.enabled":  {"1"},   // unchecked box: false
			"set.thresholds.cpu.severity": {"1"}, "v.thresholds.cpu.severity": {"critical"},
			"set.thresholds.disk_mounts": {"1"}, "v.thresholds.disk_mounts": {`{"/data": {"percent_trigger": 80, "percent_clear": 70}}`},
		}
		res := admin.post("/policies/"+srv.ID+"?at=site:"+f.site.ID, form)
		wantStatus(t, "save", res, http.StatusSeeOther)
		if got, want := location(res), "/policies/"+srv.ID+"?at=site%3A"+f.site.ID+"&saved=1"; got != want {
			t.Errorf("after save to %s, want %s", got, want)
		}
		pol, _ := e.db.Policy(context.Background(), srv.ID)
		doc, err := policy.Decode(pol.Document)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(doc.Paths(), ","); got != "thresholds.cpu.enabled,thresholds.cpu.severity,thresholds.cpu.trigger,thresholds.disk_mounts" {
			t.Errorf("saved paths %s", got)
		}
		if v, _ := doc.Get("thresholds.cpu.enabled"); v != false {
			t.Errorf("thresholds.cpu.enabled saved as %v, want false", v)
		}
		if pol.Description != "For servers" {
			t.Errorf("description %q", pol.Description)
		}
		entries, _, _ := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "policy.update", TargetID: srv.ID}, store.Page{Limit: 5})
		if len(entries) == 0 {
			t.Error("no policy.update audit entry")
		}
		res = admin.get(location(res))
		mustContain(t, "editor after save", res.body, `id="saved"`)
		mustContain(t, "mounts row", editorRow(t, res.body, "thresholds.disk_mounts"), "set here", "/data")
	})

	t.Run("ReadOnlyCannotChangeAnything", func(t *testing.T) {
		ro := e.signedIn(store.RoleReadonly)
		res := ro.get("/policies/" + srv.ID)
		wantStatus(t, "readonly editor", res, http.StatusOK)
		mustContain(t, "readonly editor", res.body, `<fieldset class="bare" disabled>`)
		mustNotContain(t, "readonly editor", res.body, "Save policy", `action="/assignments"`)
		mustNotContain(t, "readonly list", ro.get("/policies").body, `action="/policies"`, "/delete")
		for _, post := range []struct {
			path string
			form url.Values
		}{
			{"/policies", url.Values{"name": {"Mine"}}},
			{"/policies/" + srv.ID, url.Values{"name": {"Hacked"}}},
			{"/policies/" + srv.ID + "/delete", nil},
			{"/assignments", url.Values{"scope": {"default:"}, "policy_id": {srv.ID}}},
			{"/assignments/remove", url.Values{"level": {"site"}, "target_id": {f.site.ID}}},
		} {
			wantStatus(t, "readonly POST "+post.path, ro.post(post.path, post.form), http.StatusForbidden)
		}
		pol, _ := e.db.Policy(context.Background(), srv.ID)
		if pol.Name != "Servers" || len(pol.Assignments) != 1 {
			t.Errorf("after readonly posts: name %q, %d assignments", pol.Name, len(pol.Assignments))
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		for _, path := range []string{"/policies", "/policies/" + srv.ID, "/policies/" + srv.ID + "/delete", "/assignments", "/assignments/remove", "/maintenance"} {
			wantStatus(t, "POST "+path+" without token", admin.postRaw(path, url.Values{"name": {"x"}}), http.StatusForbidden)
		}
	})

	t.Run("AssignAndDelete", func(t *testing.T) {
		res := admin.post("/policies", url.Values{"name": {"Temp"}, "description": {"short-lived"}})
		wantStatus(t, "create", res, http.StatusSeeOther)
		id := strings.TrimPrefix(location(res), "/policies/")
		res = admin.post("/policies", url.Values{"name": {"Temp"}})
		wantStatus(t, "create a duplicate", res, http.StatusConflict)
		mustContain(t, "policies page", res.body, `id="policy-error"`)

		res = admin.post("/assignments", url.Values{"scope": {"client:" + f.client.ID}, "policy_id": {id}, "next": {"/policies/" + id}})
		wantStatus(t, "assign to client", res, http.StatusSeeOther)
		if location(res) != "/policies/"+id {
			t.Errorf("assign went to %s", location(res))
		}
		a := e.enroll(f, linuxFacts("web-01"))
		res = admin.post("/assignments", url.Values{"level": {"agent"}, "target_id": {"WEB-01"}, "policy_id": {id}, "next": {"/policies/" + id}})
		wantStatus(t, "assign to agent by hostname", res, http.StatusSeeOther)
		res = admin.post("/assignments", url.Values{"level": {"agent"}, "target_id": {"nobody"}, "policy_id": {id}})
		wantStatus(t, "assign to an unknown agent", res, http.StatusBadRequest)
		// From the editor, the refusal is shown beside the field, on the editor.
		e.enroll(f, linuxFacts("web-01"))
		res = admin.post("/assignments", url.Values{"level": {"agent"}, "target_id": {"web-01"}, "policy_id": {id}, "next": {"/policies/" + id}})
		wantStatus(t, "assign to an ambiguous hostname from the editor", res, http.StatusBadRequest)
		mustContain(t, "editor after a refused assignment", res.body, `id="policy-form"`,
			`value="web-01" aria-invalid="true" aria-describedby="assign-agent-error"`,
			`<p class="field-error" id="assign-agent-error" role="alert">Agent matches several hostnames; use the agent ID</p>`)

		res = admin.get("/policies/" + id)
		mustContain(t, "editor", res.body, "Client Acme", "Agent web-01", `<option value="agent:`+a.ID+`"`)
		res = admin.post("/policies/"+id+"/delete", nil)
		wantStatus(t, "delete assigned", res, http.StatusConflict)
		mustContain(t, "refusal", res.body, `id="delete-error"`, "is assigned to Agent web-01, Client Acme; unassign it first")
		res = admin.post("/policies/"+store.DefaultPolicyID+"/delete", nil)
		wantStatus(t, "delete default", res, http.StatusConflict)
		mustContain(t, "refusal", res.body, "default policy")

		for _, target := range []url.Values{{"level": {"client"}, "target_id": {f.client.ID}}, {"level": {"agent"}, "target_id": {a.ID}}} {
			wantStatus(t, "unassign", admin.post("/assignments/remove", target), http.StatusSeeOther)
		}
		res = admin.post("/assignments/remove", url.Values{"level": {"default"}, "target_id": {""}})
		wantStatus(t, "unassign the default level", res, http.StatusBadRequest)
		wantStatus(t, "delete", admin.post("/policies/"+id+"/delete", nil), http.StatusSeeOther)
		if _, err := e.db.Policy(context.Background(), id); err == nil {
			t.Error("policy still there after delete")
		}
	})
}

// A kind the editor has no input for, like one added to the schema later,
// is edited as its JSON text.
// FuzzPolicyForm feeds arbitrary text, as every field at once, through
// what the editor's save does before the manage layer: either the form
// names a field at fault or the document it builds decodes, or is refused
// with field errors the editor can place.
// TestPolicyEditorUnits saves sizes with units, durations in days and a
// notification route chosen by channel name, and reads them back so.
func TestPolicyEditorUnits(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	ch, _, err := e.mgr.CreateChannel(context.Background(), access.Console(), manage.ChannelInput{Name: "Ops mail", Kind: store.ChannelEmail, Recipients: []string{"ops@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	pol := e.mustPolicy("Units", `{}`)
	admin := e.signedIn(store.RoleAdmin)
	form := url.Values{"name": {"Units"},
		"set.metrics.buffer.max_bytes": {"1"}, "v.metrics.buffer.max_bytes": {"32 mb"},
		"set.metrics.retention.rollup": {"1"}, "v.metrics.retention.rollup": {"30d"},
		"set.notifications.critical": {"1"}, "v.notifications.critical": {ch.ID},
		"set.notifications.warning": {"1"},                                         // no box checked: routes nowhere
		"set.notifications.info":    {"1"}, "v.notifications.info": {ch.ID, "all"}, // "all" wins
	}
	res := admin.post("/policies/"+pol.ID, form)
	wantStatus(t, "save with units", res, http.StatusSeeOther)
	stored, _ := e.db.Policy(context.Background(), pol.ID)
	want := `{"metrics":{"buffer":{"max_bytes":33554432},"retention":{"rollup":"720h0m0s"}},"notifications":{"critical":["` + ch.ID + `"],"info":["all"],"warning":[]}}`
	if string(stored.Document) != want {
		t.Errorf("stored %s\nwant   %s", stored.Document, want)
	}
	res = admin.get("/policies/" + pol.ID)
	mustContain(t, "size row", editorRow(t, res.body, "metrics.buffer.max_bytes"), `value="32 MB"`)
	mustContain(t, "rollup row", editorRow(t, res.body, "metrics.retention.rollup"), `value="30d"`)
	critical := editorRow(t, res.body, "notifications.critical")
	mustContain(t, "critical route", critical, `value="`+ch.ID+`" id="f-notifications-critical-1" data-field="f-notifications-critical" checked> Ops mail`)
	mustNotContain(t, "critical route", critical, `value="all" id="f-notifications-critical-0" data-field="f-notifications-critical" checked`)

	// A bad size comes back beside its input, as typed.
	form.Set("v.metrics.buffer.max_bytes", "lots")
	res = admin.post("/policies/"+pol.ID, form)
	wantStatus(t, "save a bad size", res, http.StatusBadRequest)
	mustContain(t, "size row", editorRow(t, res.body, "metrics.buffer.max_bytes"), `value="lots"`, "aria-invalid")
	mustContain(t, "critical route kept", editorRow(t, res.body, "notifications.critical"), `data-field="f-notifications-critical" checked> Ops mail`)
}
