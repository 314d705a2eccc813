package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// scriptValues is the editor's form for a valid bash script.
func scriptValues(name, body string) url.Values {
	return url.Values{
		"name": {name}, "description": {"Shows the disks"}, "category": {"Diagnostics"}, "language": {"bash"},
		"body": {body}, "args": {"-h\n\n--total"}, "env": {"LANG=C\nDEPTH=2"}, "timeout": {"90s"},
		"target_os": {"linux"}, "run_as": {"system"}, "version": {"0"},
	}
}

// mustScript adds a script to the library through the service.
func (e *testEnv) mustScript(in jobs.ScriptInput) store.Script {
	e.t.Helper()
	// The library needs only the database; the server's own service is
	// not exported.
	svc := jobs.New(e.db, nil, e.bus, slog.New(slog.DiscardHandler))
	sc, err := svc.CreateScript(context.Background(), access.Console(), in)
	if err != nil {
		e.t.Fatalf("create script %q: %v", in.Name, err)
	}
	return sc
}

// scriptIDOf reads the script's ID from the editor's redirect.
func scriptIDOf(t *testing.T, res response) string {
	t.Helper()
	loc := location(res)
	id := regexpFind(`^/scripts/([^/?]+)\?`, loc)
	if id == "" {
		t.Fatalf("redirect to %q, want /scripts/{id}?…", loc)
	}
	return id
}

// textarea returns the unescaped content of the textarea with the id.
func textarea(body, id string) string {
	s := regexpFind(`(?s)<textarea id="`+id+`"[^>]*>\n(.*?)</textarea>`, body)
	return html.UnescapeString(s)
}

func TestScriptEditor(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *testEnv) {
		tech := e.signedIn(store.RoleTechnician)
		ro := e.signedIn(store.RoleReadonly)

		res := tech.get("/scripts")
		wantStatus(t, "GET /scripts", res, http.StatusOK)
		mustContain(t, "empty library", res.body, `id="scripts-empty"`, "No scripts yet.", `href="/scripts/new"`, `href="/jobs"`,
			`<a href="/scripts" aria-current="page">Scripts</a>`)
		mustNotContain(t, "readonly library", ro.get("/scripts").body, `id="new-script"`, "Write one")
		wantStatus(t, "readonly GET /scripts/new", ro.get("/scripts/new"), http.StatusForbidden)
		wantStatus(t, "readonly POST /scripts", ro.post("/scripts", scriptValues("Disk usage", "df -h")), http.StatusForbidden)
		wantStatus(t, "POST /scripts without CSRF", tech.postRaw("/scripts", scriptValues("Disk usage", "df -h")), http.StatusForbidden)

		t.Run("errors beside their fields", func(t *testing.T) {
			for _, c := range []struct {
				name, field, value, want string
			}{
				{"no name", "name", "  ", "Name is required."},
				{"empty body", "body", "", "Body is empty."},
				{"env line", "env", "LANG=C\nnot a pair", "Line 2: write NAME=value."},
				{"env name", "env", "1BAD=x", "Environment variable name"},
				{"timeout words", "timeout", "ten minutes", "Timeout must be a duration like 90s, 10m or 1h30m."},
				{"timeout too long", "timeout", "25h", "Timeout must be between 1s and 24h0m0s."},
				{"language", "language", "perl", "Language &#34;perl&#34; is not one of"},
				{"target", "target_os", "plan9", "Target OS must be windows, linux, darwin or empty (any)."},
				{"run as", "run_as", "admin", "Run as must be system or user."},
				{"body too big", "body", strings.Repeat("x", protocol.MaxScriptBodyBytes+1), "Body is 49153 bytes, limit 49152."},
			} {
				t.Run(c.name, func(t *testing.T) {
					form := scriptValues("Disk usage", "df -h")
					form.Set(c.field, c.value)
					res := tech.post("/scripts", form)
					wantStatus(t, "POST /scripts", res, http.StatusBadRequest)
					got := regexpFind(`<p class="field-error" id="`+c.field+`-error" role="alert">([^<]*)</p>`, res.body)
					if !strings.Contains(got, c.want) {
						t.Errorf("%s error %q, want it to contain %q", c.field, got, c.want)
					}
					// What was typed comes back.
					mustContain(t, "form again", res.body, `value="`+html.EscapeString(form.Get("name"))+`"`)
					if got, want := textarea(res.body, "script-env"), form.Get("env"); c.field != "body" && got != want {
						t.Errorf("env textarea %q, want %q", got, want)
					}
				})
			}
			if _, n, _ := e.db.ListScripts(context.Background(), store.ScriptFilter{}, store.Page{}); n != 0 {
				t.Fatalf("scripts after refused posts: %d, want 0", n)
			}
		})

		body1 := "#!/bin/bash\n\tdf -h \"$@\" < /dev/null\n"
		res = tech.post("/scripts", scriptValues("Disk usage", strings.ReplaceAll(body1, "\n", "\r\n")))
		wantStatus(t, "create", res, http.StatusSeeOther)
		id := scriptIDOf(t, res)
		sc, err := e.db.GetScript(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Script{Name: "Disk usage", Description: "Shows the disks", Category: "Diagnostics", Language: "bash", Body: body1,
			Args: []string{"-h", "--total"}, Env: map[string]string{"LANG": "C", "DEPTH": "2"}, Timeout: 90 * time.Second,
			TargetOS: "linux", RunAs: "system", Version: 1}
		if diff := cmp.Diff(want, sc, cmpScript); diff != "" {
			t.Errorf("stored script (-want +got):\n%s", diff)
		}
		page := tech.get(location(res))
		wantStatus(t, "GET "+location(res), page, http.StatusOK)
		mustContain(t, "saved page", page.body, "Saved as version 1.", `id="script-version">1<`, sc.SHA256, "technician@example.com",
			`href="/jobs/new?script_id=`+id+`"`, `action="/scripts/`+id+`/delete"`, `value="1m30s"`)
		if got := textarea(page.body, "script-body"); got != body1 {
			t.Errorf("editor body %q, want %q", got, body1)
		}
		if got, want := textarea(page.body, "script-args"), "-h\n--total"; got != want {
			t.Errorf("editor args %q, want %q", got, want)
		}
		if got, want := textarea(page.body, "script-env"), "DEPTH=2\nLANG=C"; got != want {
			t.Errorf("editor env %q, want %q", got, want)
		}

		// The readonly user sees the script, not the means to change it.
		rop := ro.get("/scripts/" + id)
		wantStatus(t, "readonly GET script", rop, http.StatusOK)
		mustContain(t, "readonly script page", rop.body, `<fieldset class="bare" disabled>`, sc.SHA256, "export?format=raw")
		mustNotContain(t, "readonly script page", rop.body, `id="save-script"`, `id="delete-script"`, `id="run-script"`, "Restore into the editor")
		wantStatus(t, "readonly save", ro.post("/scripts/"+id, scriptValues("Disk usage", "x")), http.StatusForbidden)
		wantStatus(t, "readonly delete", ro.post("/scripts/"+id+"/delete", nil), http.StatusForbidden)

		// Saving what the editor shows, unchanged, adds no version.
		same := url.Values{"name": {"Disk usage"}, "description": {"Shows the disks"}, "category": {"Diagnostics"}, "language": {"bash"},
			"body": {textarea(page.body, "script-body")}, "args": {textarea(page.body, "script-args")}, "env": {textarea(page.body, "script-env")},
			"timeout": {"90s"}, "target_os": {"linux"}, "run_as": {"system"}, "version": {"1"}}
		res = tech.post("/scripts/"+id, same)
		wantStatus(t, "save unchanged", res, http.StatusSeeOther)
		if loc := location(res); !strings.HasSuffix(loc, "?unchanged=1") {
			t.Errorf("unchanged save redirects to %q, want ?unchanged=1", loc)
		}
		mustContain(t, "unchanged page", tech.get(location(res)).body, "Nothing changed: no new version.", `id="script-version">1<`)

		body2 := "#!/bin/bash\ndf -h --total\n"
		changed := cloneValues(same)
		changed.Set("body", body2)
		res = tech.post("/scripts/"+id, changed)
		wantStatus(t, "save changed", res, http.StatusSeeOther)
		page = tech.get(location(res))
		mustContain(t, "version 2", page.body, "Saved as version 2.", `id="script-version">2<`)
		if got := regexpAll(`<tr(?: class="current")?>\s*<td class="num">(\d+)`, page.body); !cmp.Equal(got, []string{"2", "1"}) {
			t.Errorf("versions listed %v, want [2 1]", got)
		}

		// A save made on version 1 after version 2 exists is a conflict:
		// nothing is saved and the typed text is kept.
		stale := cloneValues(changed)
		stale.Set("body", "echo mine")
		res = tech.post("/scripts/"+id, stale)
		wantStatus(t, "stale save", res, http.StatusBadRequest)
		mustContain(t, "conflict", res.body, `id="script-conflict"`, "changed by someone else", "is at version 2, the edit was made on 1")
		if got := textarea(res.body, "script-body"); got != "echo mine" {
			t.Errorf("body after the conflict %q, want the typed text", got)
		}

		// Version 1 is viewable read-only and can be restored into the
		// editor, to be saved as version 3.
		v1 := tech.get("/scripts/" + id + "?version=1")
		wantStatus(t, "view version 1", v1, http.StatusOK)
		if got := html.UnescapeString(regexpFind(`(?s)<pre class="code" id="version-body">(.*?)</pre>`, v1.body)); got != body1 {
			t.Errorf("version 1 body %q, want %q", got, body1)
		}
		mustContain(t, "version view", v1.body, `href="/scripts/`+id+`?restore=1#script-form"`)
		restored := tech.get("/scripts/" + id + "?restore=1")
		mustContain(t, "restored", restored.body, "Version 1 is loaded into the editor. Save to make it version 3.",
			`<input type="hidden" name="version" value="2">`)
		if got := textarea(restored.body, "script-body"); got != body1 {
			t.Errorf("restored body %q, want %q", got, body1)
		}
		again := cloneValues(changed)
		again.Set("body", textarea(restored.body, "script-body"))
		again.Set("version", "2")
		wantStatus(t, "save the restored version", tech.post("/scripts/"+id, again), http.StatusSeeOther)
		if sc, _ := e.db.GetScript(context.Background(), id); sc.Version != 3 || sc.Body != body1 {
			t.Errorf("after restoring: version %d body %q, want 3 and version 1's body", sc.Version, sc.Body)
		}
		wantStatus(t, "a version that does not exist", tech.get("/scripts/"+id+"?version=9"), http.StatusNotFound)
		wantStatus(t, "a version that is no number", tech.get("/scripts/"+id+"?restore=x"), http.StatusNotFound)

		// A name already taken is the name's error.
		res = tech.post("/scripts", scriptValues("Disk usage", "df"))
		wantStatus(t, "duplicate name", res, http.StatusBadRequest)
		mustContain(t, "duplicate name", res.body, `id="name-error"`, "A script named &#34;Disk usage&#34; exists.")

		t.Run("list and filters", func(t *testing.T) {
			e.mustScript(jobs.ScriptInput{Name: "Flush DNS", Description: "Clears the resolver cache", Category: "Network",
				Language: "powershell", Body: "Clear-DnsClientCache", TargetOS: "windows"})
			e.mustScript(jobs.ScriptInput{Name: "Restart spooler", Category: "Maintenance", Language: "cmd", Body: "net stop spooler"})
			for _, c := range []struct {
				query string
				want  []string
			}{
				{"", []string{"Disk usage", "Flush DNS", "Restart spooler"}},
				{"?q=resolver", []string{"Flush DNS"}},
				{"?q=DISK", []string{"Disk usage"}},
				{"?category=Maintenance", []string{"Restart spooler"}},
				{"?language=powershell", []string{"Flush DNS"}},
				{"?language=bash&category=Network", nil},
			} {
				res := ro.get("/scripts" + c.query)
				wantStatus(t, "GET /scripts"+c.query, res, http.StatusOK)
				if got := regexpAll(`<a class="script-name" href="/scripts/[^"]+">([^<]*)</a>`, res.body); !cmp.Equal(got, c.want) {
					t.Errorf("GET /scripts%s lists %v, want %v", c.query, got, c.want)
				}
				if c.want == nil {
					mustContain(t, "no match", res.body, "No script matches these filters.")
				}
			}
			res := ro.get("/scripts")
			mustContain(t, "library row", res.body, "Windows cmd", "PowerShell", "Linux", "Any", "by technician@example.com",
				`<option value="Diagnostics">Diagnostics</option>`, `<option value="Network">Network</option>`)
			// The editor suggests the categories in use.
			mustContain(t, "datalist", tech.get("/scripts/new").body, `<datalist id="script-categories"><option value="Diagnostics"><option value="Maintenance"><option value="Network"></datalist>`)
		})

		res = tech.post("/scripts/"+id+"/delete", nil)
		wantStatus(t, "delete", res, http.StatusSeeOther)
		mustContain(t, "after delete", tech.get(location(res)).body, "The script and its versions are deleted.")
		wantStatus(t, "deleted script", tech.get("/scripts/"+id), http.StatusNotFound)
		wantStatus(t, "delete again", tech.post("/scripts/"+id+"/delete", nil), http.StatusNotFound)
		if n := countAudit(t, e, "script."); n != 4 {
			t.Errorf("script audit entries by dashboard users: %d, want 4 (create, 2 updates, delete)", n)
		}
	})
}

// cmpScript compares scripts on what a user saves.
var cmpScript = cmp.Options{
	cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".ID", ".SHA256", ".CreatedBy", ".CreatedAt", ".UpdatedBy", ".UpdatedAt":
			return true
		}
		return false
	}, cmp.Ignore()),
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// countAudit counts the audit entries whose action starts with prefix
// and whose actor is a dashboard user.
func countAudit(t *testing.T, e *testEnv, prefix string) int {
	t.Helper()
	entries, _, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: prefix}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		if strings.Contains(en.ActorName, "@example.com") {
			n++
		}
	}
	return n
}

// importFile posts a file to the import form as a browser does: the CSRF
// token first, then the file.
func (b *browser) importFile(path, token, name string, data []byte) response {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if token != "" {
		_ = mw.WriteField(access.CSRFField, token)
	}
	// No file chosen is an empty part without a file name, as browsers send it.
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func TestScriptImportExport(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *testEnv) {
		tech := e.signedIn(store.RoleTechnician)
		ro := e.signedIn(store.RoleReadonly)
		sc := e.mustScript(jobs.ScriptInput{Name: "Clean temp / files", Description: "Removes <old> files & logs", Category: "Maintenance",
			Language: "powershell", Body: "param($Days = 7)\r\nGet-ChildItem $env:TEMP | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$Days) } | Remove-Item\r\n",
			Args: []string{"-Days", "14"}, Env: map[string]string{"STEWARD_DRY": "1"}, Timeout: 5 * time.Minute, TargetOS: "windows", RunAs: "user"})

		res := ro.get("/scripts/" + sc.ID + "/export")
		wantStatus(t, "export", res, http.StatusOK)
		if got, want := res.header.Get("Content-Disposition"), `attachment; filename=Clean-temp---files.json`; got != want {
			t.Errorf("Content-Disposition %q, want %q", got, want)
		}
		mustContain(t, "export", res.body, `"description": "Removes <old> files & logs"`, `"timeout": "5m"`)
		var doc map[string]any
		if err := json.Unmarshal([]byte(res.body), &doc); err != nil {
			t.Fatalf("export is not JSON: %v", err)
		}
		if _, ok := doc["id"]; ok {
			t.Error("export carries the script's ID; it should carry only what creating one takes")
		}
		// The export is what the API takes to create a script.
		doc["name"] = "Clean temp (API)"
		viaAPI, _ := json.Marshal(doc)
		e.srv.As(t, store.RoleAdmin, http.MethodPost, "/api/v1/scripts", string(viaAPI)).Want(t, http.StatusCreated)
		raw := ro.get("/scripts/" + sc.ID + "/export?format=raw")
		wantStatus(t, "raw export", raw, http.StatusOK)
		if raw.body != sc.Body || !strings.Contains(raw.header.Get("Content-Disposition"), "Clean-temp---files.ps1") {
			t.Errorf("raw export %q (%s), want the body as Clean-temp---files.ps1", raw.body, raw.header.Get("Content-Disposition"))
		}

		// Round trip: the export fills the new-script editor; saved under
		// another name it is the same script.
		res = tech.importFile("/scripts/import", tech.csrf(), "export.json", []byte(res.body))
		wantStatus(t, "import the export", res, http.StatusOK)
		mustContain(t, "imported", res.body, "Imported from export.json. Review it and save", `action="/scripts"`, `value="Clean temp / files"`, `value="5m"`)
		form := editorValues(res.body)
		form.Set("name", "Clean temp (copy)")
		saved := tech.post("/scripts", form)
		wantStatus(t, "save the import", saved, http.StatusSeeOther)
		cp, err := e.db.GetScript(context.Background(), scriptIDOf(t, saved))
		if err != nil {
			t.Fatal(err)
		}
		sc.Name = cp.Name
		if diff := cmp.Diff(sc, cp, cmpScript); diff != "" {
			t.Errorf("round trip (-exported +imported):\n%s", diff)
		}
		if cp.SHA256 != sc.SHA256 {
			t.Errorf("round trip changed the body's SHA-256")
		}

		// Raw files take their language from the extension.
		for _, c := range []struct{ file, lang, target string }{
			{"fix.ps1", "powershell", ""}, {"fix.cmd", "cmd", "windows"}, {"FIX.BAT", "cmd", "windows"},
			{"fix.sh", "bash", ""}, {"fix.py", "python", ""}, {"fix.zsh", "zsh", ""},
		} {
			res := tech.importFile("/scripts/import", tech.csrf(), c.file, []byte("echo hi\n"))
			wantStatus(t, "import "+c.file, res, http.StatusOK)
			got := editorValues(res.body)
			name := c.file[:strings.LastIndex(c.file, ".")]
			if got.Get("language") != c.lang || got.Get("target_os") != c.target || got.Get("body") != "echo hi\n" || got.Get("name") != name {
				t.Errorf("import %s: language %q target %q name %q body %q, want %s, %q, the file's name and its text",
					c.file, got.Get("language"), got.Get("target_os"), got.Get("name"), got.Get("body"), c.lang, c.target)
			}
		}

		for _, c := range []struct {
			name, file string
			data       []byte
			status     int
			want       string
		}{
			{"unknown extension", "notes.txt", []byte("hi"), http.StatusBadRequest, "not a script file"},
			{"no extension", "script", []byte("hi"), http.StatusBadRequest, "not a script file"},
			{"empty", "a.sh", []byte(" \n"), http.StatusBadRequest, "a.sh is empty."},
			{"not UTF-8", "a.sh", []byte("echo \xff\xfe"), http.StatusBadRequest, "is not UTF-8 text"},
			{"raw too big", "a.sh", bytes.Repeat([]byte("x"), protocol.MaxScriptBodyBytes+1), http.StatusBadRequest, "a script&#39;s body is at most 48 KiB"},
			{"file too big", "a.json", bytes.Repeat([]byte("x"), 512<<10+1), http.StatusRequestEntityTooLarge, "larger than 512 KiB"},
			{"bad JSON", "a.json", []byte(`{"name": `), http.StatusBadRequest, "a.json is not a script export"},
			{"JSON no body", "a.json", []byte(`{"name": "x", "language": "bash"}`), http.StatusBadRequest, "it has no language or no body"},
			{"two JSON values", "a.json", []byte(`{"language": "sh", "body": "x"} {}`), http.StatusBadRequest, "more than one JSON value"},
			{"JSON array", "a.json", []byte(`[]`), http.StatusBadRequest, "a.json is not a script export"},
			{"no file", "", nil, http.StatusBadRequest, "Choose a file to import."},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := tech.importFile("/scripts/import", tech.csrf(), c.file, c.data)
				wantStatus(t, "import "+c.name, res, c.status)
				got := regexpFind(`<p class="field-error" id="import-error" role="alert">([^<]*)</p>`, res.body)
				if !strings.Contains(got, c.want) {
					t.Errorf("import error %q, want it to contain %q", got, c.want)
				}
			})
		}
		wantStatus(t, "import without CSRF", tech.importFile("/scripts/import", "", "a.sh", []byte("x")), http.StatusForbidden)
		wantStatus(t, "import with a wrong token", tech.importFile("/scripts/import", strings.Repeat("x", 43), "a.sh", []byte("x")), http.StatusForbidden)
		wantStatus(t, "readonly import", ro.importFile("/scripts/import", ro.csrf(), "a.sh", []byte("x")), http.StatusForbidden)
		if _, n, _ := e.db.ListScripts(context.Background(), store.ScriptFilter{}, store.Page{}); n != 3 {
			t.Errorf("scripts after the imports: %d, want 3 (an import saves nothing by itself)", n)
		}
	})
}

// editorValues reads the editor's fields from a page, as a browser
// would submit them.
func editorValues(body string) url.Values {
	v := url.Values{}
	for _, f := range []struct{ field, id string }{{"name", "script-name"}, {"category", "script-category"}, {"timeout", "script-timeout"}} {
		v.Set(f.field, html.UnescapeString(regexpFind(`id="`+f.id+`" name="[^"]+" value="([^"]*)"`, body)))
	}
	for _, f := range []struct{ field, id string }{{"description", "script-description"}, {"body", "script-body"}, {"args", "script-args"}, {"env", "script-env"}} {
		v.Set(f.field, textarea(body, f.id))
	}
	for _, f := range []struct{ field, id string }{{"language", "script-language"}, {"target_os", "script-target"}, {"run_as", "script-run-as"}} {
		v.Set(f.field, regexpFind(`(?s)<select id="`+f.id+`"[^>]*>.*?<option value="([^"]*)" selected>`, body))
	}
	v.Set("version", regexpFind(`<input type="hidden" name="version" value="(\d+)">`, body))
	v.Set("newline", regexpFind(`<input type="hidden" name="newline" value="([a-z]*)">`, body))
	return v
}
