package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// postFile posts a multipart form with one file part, as the key and
// rollback forms send it; csrf "" sends the browser's token, "-" none.
func (b *browser) postFile(path, csrf, field, name string, data []byte) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	switch csrf {
	case "":
		mw.WriteField(access.CSRFField, b.csrf())
	case "-":
	default:
		mw.WriteField(access.CSRFField, csrf)
	}
	fw, _ := mw.CreateFormFile(field, name)
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// auditCount counts the audit entries of an action.
func auditCount(t *testing.T, e *testEnv, action string) int {
	t.Helper()
	_, total, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: action}, store.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// bulkSummary is the result page's one-line summary.
func bulkSummary(body string) string {
	return strings.Join(strings.Fields(stripTags(regexpFind(`(?s)id="bulk-summary">(.*?)</p>`, body))), " ")
}

// stripTags drops the markup of a fragment.
func stripTags(s string) string {
	var out strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			out.WriteRune(r)
		}
	}
	return out.String()
}

// publish uploads data signed as version for linux/amd64 on stable and
// returns the release's ID.
func publish(t *testing.T, admin *browser, version string, data []byte) string {
	t.Helper()
	res := admin.upload(upload{file: data, sig: []byte(signed(t, releaseKey, version, data)), channel: "stable"})
	wantStatus(t, "publish "+version, res, http.StatusSeeOther)
	return strings.TrimPrefix(location(res), "/releases/")
}

func TestBulkUpdateNow(t *testing.T) {
	eachReleaseEnv(t, testBulkUpdateNow)
}

func testBulkUpdateNow(t *testing.T, e *testEnv) {
	f := e.fixture("Acme", "HQ")
	other := e.fixture("Globex", "Plant")
	a1, a2 := e.enroll(f, linuxFacts("acme-ws-01")), e.enroll(f, linuxFacts("acme-ws-02"))
	a3 := e.enroll(f, linuxFacts("acme-ws-03"))
	win := linuxFacts("acme-win-01")
	win.OS, win.OSName = "windows", "Windows 11 Pro"
	e.enroll(f, win)
	g1 := e.enroll(other, linuxFacts("globex-01"))
	gone := e.enroll(other, linuxFacts("globex-gone"))
	if _, err := machineAlerts(e).Uninstall(t.Context(), gone.ID, "msiexec /x", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	relID := publish(t, admin, "0.2.0", []byte("agent 0.2.0"))

	// The bar and the row boxes are for those who can update agents.
	page := admin.get("/agents")
	mustContain(t, "admin agents page", page.body, `id="agents-bulk"`, `action="/updates"`,
		`<input type="checkbox" name="id" value="`+a1.ID+`" form="agents-bulk" aria-label="Select acme-ws-01">`,
		`data-bulk-page`, `data-total="6"`, `<option value="`+relID+`">0.2.0 linux/amd64 · stable</option>`, `<option value="15m" selected>`)
	for who, b := range map[string]*browser{"readonly": ro, "technician": tech} {
		mustNotContain(t, who+" agents page", b.get("/agents").body, `id="agents-bulk"`, `form="agents-bulk"`)
	}
	// The filter travels with the table the bar acts on, without columns
	// or page; live refreshes of the fragment carry it too.
	mustContain(t, "filtered fragment", admin.get("/agents?q=acme&os=linux&col=ip&page=1", "HX-Request", "true").body,
		`<input type="hidden" name="filter" form="agents-bulk" value="os=linux&amp;q=acme">`)
	// The release page links here with the rollback preselected.
	mustContain(t, "agents page for a rollback", admin.get("/agents?os=linux&release="+relID+"&rollback=1").body,
		`<option value="`+relID+`" selected>`, `id="bulk-rollback" checked`)

	wantStatus(t, "technician update", tech.post("/updates", url.Values{"id": {a1.ID}}), http.StatusForbidden)
	wantStatus(t, "update without CSRF", admin.postRaw("/updates", url.Values{"id": {a1.ID}}), http.StatusForbidden)

	refusals := []struct {
		name string
		form url.Values
		want string
	}{
		{"nothing selected", url.Values{}, "Selection is empty: select agents first"},
		{"unknown agent", url.Values{"id": {"nope"}}, "Agent ids no agent nope"},
		{"spread too long", url.Values{"id": {a1.ID}, "spread": {"7h"}}, "Spread must be between 0 and 6h0m0s"},
		{"spread not a duration", url.Values{"id": {a1.ID}, "spread": {"soon"}}, "Spread must be a duration"},
		{"rollback without a release", url.Values{"id": {a1.ID}, "rollback": {"1"}}, "Rollback needs a release"},
		{"rollback without instruction", url.Values{"id": {a1.ID}, "release": {relID}, "rollback": {"1"}}, "has no signed rollback instruction"},
		{"filter matching nothing", url.Values{"all": {"1"}, "filter": {"q=nobody"}}, "no agent matches the filter"},
		{"bad target", url.Values{"target": {"agent:" + a1.ID}}, "Target must be a site or a client"},
	}
	for _, r := range refusals {
		res := admin.post("/updates", r.form)
		wantStatus(t, r.name, res, http.StatusBadRequest)
		if msg := regexpFind(`(?s)id="bulk-error">(.*?)</div>`, res.body); !strings.Contains(msg, r.want) {
			t.Errorf("%s: error %q, want it to say %q", r.name, msg, r.want)
		}
	}
	if n := auditCount(t, e, "update.offer"); n != 0 {
		t.Fatalf("%d update.offer entries after refusals, want 0", n)
	}

	// Two checked rows and an uninstalled one: the summary counts both.
	res := admin.post("/updates", url.Values{"id": {a1.ID, a2.ID, gone.ID}, "spread": {"30m"}, "back": {"/agents?q=acme"}})
	wantStatus(t, "update two", res, http.StatusOK)
	if got, want := bulkSummary(res.body), "Offered to 2 agents. 1 agent skipped."; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	mustContain(t, "update two", res.body, "For 3 selected agents.", `<td>uninstalled</td><td class="num">1</td>`, `href="/agents?q=acme"`)
	if n := auditCount(t, e, "update.offer"); n != 1 {
		t.Errorf("%d update.offer entries, want 1", n)
	}

	// All matching the list's filter, across pages: resolved on the
	// server, so the Windows agent (another platform) is named and skipped.
	res = admin.post("/updates", url.Values{"all": {"1"}, "filter": {"client=" + f.client.ID}, "release": {relID}, "back": {"//evil.example"}})
	wantStatus(t, "update all matching", res, http.StatusOK)
	mustContain(t, "update all matching", res.body, "For all 4 agents matching the filter.",
		`<td>another platform than the release</td><td class="num">1</td>`, `<a class="btn" href="/">Back</a>`)
	if got, want := bulkSummary(res.body), "Offered to 3 agents. 1 agent skipped."; got != want {
		t.Errorf("all matching: summary %q, want %q", got, want)
	}

	// A site's and a client's agents, from their pages.
	sitePage := admin.get("/sites/" + other.site.ID)
	mustContain(t, "admin site page", sitePage.body, `id="update-now"`, `name="target" value="site:`+other.site.ID+`"`)
	mustContain(t, "admin client page", admin.get("/clients/"+f.client.ID).body, `id="update-now"`, `name="target" value="client:`+f.client.ID+`"`)
	mustNotContain(t, "readonly site page", ro.get("/sites/"+other.site.ID).body, `id="update-now"`)
	res = admin.post("/updates", url.Values{"target": {"site:" + other.site.ID}, "back": {"/sites/" + other.site.ID}})
	wantStatus(t, "update a site", res, http.StatusOK)
	mustContain(t, "update a site", res.body, "For the agents of site Plant (Globex).")
	if got, want := bulkSummary(res.body), "Offered to 1 agent."; got != want {
		t.Errorf("site: summary %q, want %q", got, want)
	}
	res = admin.post("/updates", url.Values{"client": {f.client.ID}})
	wantStatus(t, "update a client", res, http.StatusOK)
	mustContain(t, "update a client", res.body, "For the agents of client Acme.", "Skipped because")
	wantStatus(t, "unknown site", admin.post("/updates", url.Values{"target": {"site:nope"}}), http.StatusNotFound)

	// Every offer went through the updates service: each agent has its
	// offered step, and the audit one entry per request that offered.
	for _, a := range []store.Agent{a1, a2, a3, g1} {
		items, err := e.db.AgentUpdates(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].ReleaseID != relID {
			t.Errorf("%s: updates %+v, want one of release %s", a.Hostname, items, relID)
		}
	}
	if n := auditCount(t, e, "update.offer"); n != 4 {
		t.Errorf("%d update.offer entries, want 4", n)
	}
}

// signedKeyStatement returns the file `steward release key` writes.
func signedKeyStatement(t *testing.T, signer ed25519.PrivateKey, st protocol.KeyStatement) []byte {
	t.Helper()
	s, err := protocol.SignKeyStatement(signer, st)
	if err != nil {
		t.Fatal(err)
	}
	return s.Encode()
}

func TestReleaseKeysPage(t *testing.T) {
	eachReleaseEnv(t, testReleaseKeysPage)
}

func testReleaseKeysPage(t *testing.T, e *testEnv) {
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	configured := protocol.NewReleaseKey(releaseKey.Public().(ed25519.PublicKey))
	next := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	nextKey := protocol.NewReleaseKey(next.Public().(ed25519.PublicKey))
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32))

	wantStatus(t, "readonly keys page", ro.get("/releases/keys"), http.StatusForbidden)
	wantStatus(t, "technician keys page", tech.get("/releases/keys"), http.StatusForbidden)
	mustNotContain(t, "readonly releases page", ro.get("/releases").body, `href="/releases/keys"`)
	mustContain(t, "admin releases page", admin.get("/releases").body, `href="/releases/keys"`)
	res := admin.get("/releases/keys")
	wantStatus(t, "admin keys page", res, http.StatusOK)
	mustContain(t, "keys page", res.body, `<h1>Release keys</h1>`, `<td class="mono">`+configured.ID+`</td>`, strings.ReplaceAll(configured.String(), "+", "&#43;"),
		`<span class="badge">configured</span>`, "No key statement has been recorded", `id="key-form"`, `enctype="multipart/form-data"`)

	add := signedKeyStatement(t, releaseKey, protocol.KeyStatement{Add: nextKey.String()})
	wantStatus(t, "technician statement", tech.postFile("/releases/keys", "", "statement", "add.json", add), http.StatusForbidden)
	wantStatus(t, "statement without CSRF", admin.postFile("/releases/keys", "-", "statement", "add.json", add), http.StatusForbidden)

	refusals := []struct {
		name   string
		data   []byte
		status int
		want   string
	}{
		{"empty file", nil, http.StatusBadRequest, "This is not a key statement"},
		{"not JSON", []byte("hello"), http.StatusBadRequest, "This is not a key statement"},
		{"too large", bytes.Repeat([]byte("x"), protocol.MaxSignedReleaseBytes+1), http.StatusBadRequest, "larger than 4096 bytes"},
		{"untrusted signer", signedKeyStatement(t, stranger, protocol.KeyStatement{Add: nextKey.String()}), http.StatusBadRequest, "not trusted"},
		{"retire the last key", signedKeyStatement(t, releaseKey, protocol.KeyStatement{Retire: configured.ID}), http.StatusBadRequest, "last trusted key"},
	}
	for _, r := range refusals {
		res := admin.postFile("/releases/keys", "", "statement", "st.json", r.data)
		wantStatus(t, r.name, res, r.status)
		if msg := regexpFind(`id="keys-error">([^<]*)<`, res.body); !strings.Contains(msg, r.want) {
			t.Errorf("%s: error %q, want it to say %q", r.name, msg, r.want)
		}
	}
	res = admin.postFile("/releases/keys", "", "other", "st.json", add)
	wantStatus(t, "no file", res, http.StatusBadRequest)
	mustContain(t, "no file", res.body, "Choose the statement file first.")

	res = admin.postFile("/releases/keys", "", "statement", "add.json", add)
	wantStatus(t, "add a key", res, http.StatusSeeOther)
	res = admin.get(location(res))
	mustContain(t, "keys after the statement", res.body, `<td class="mono">`+nextKey.ID+`</td>`, `badge release-active">key statement`,
		`adds key <span class="mono">`+nextKey.ID+`</span>`, "admin@example.com")
	mustNotContain(t, "keys after the statement", res.body, "No key statement has been recorded", `id="keys-ignored"`)
	// The new key can now retire the old one.
	retire := signedKeyStatement(t, next, protocol.KeyStatement{Retire: configured.ID})
	wantStatus(t, "retire the old key", admin.postFile("/releases/keys", "", "statement", "retire.json", retire), http.StatusSeeOther)
	res = admin.get("/releases/keys")
	mustContain(t, "keys after the retirement", res.body, `retires key <span class="mono">`+configured.ID+`</span>`)
	mustNotContain(t, "keys after the retirement", res.body, `<span class="badge">configured</span>`)
	if n := auditCount(t, e, "release.key"); n != 2 {
		t.Errorf("%d release.key entries, want 2", n)
	}
}

func TestReleaseKeysPageWithoutKeys(t *testing.T) {
	e := newSQLiteEnv(t)
	admin := e.signedIn(store.RoleAdmin)
	mustContain(t, "keys page", admin.get("/releases/keys").body, "This server trusts no release key", "No key is trusted.")
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	st := signedKeyStatement(t, releaseKey, protocol.KeyStatement{Add: protocol.NewReleaseKey(other.Public().(ed25519.PublicKey)).String()})
	res := admin.postFile("/releases/keys", "", "statement", "add.json", st)
	wantStatus(t, "statement", res, http.StatusConflict)
	mustContain(t, "statement", res.body, `id="keys-error"`, "trusts no release key")
}

// signedRollback returns the .rollback file of data as version for
// linux/amd64.
func signedRollback(t *testing.T, priv ed25519.PrivateKey, version string, data []byte) []byte {
	t.Helper()
	rb, err := protocol.SignRollback(priv, linuxRelease(version, data))
	if err != nil {
		t.Fatal(err)
	}
	return rb.Encode()
}

func TestReleaseRollback(t *testing.T) {
	eachReleaseEnv(t, testReleaseRollback)
}

func testReleaseRollback(t *testing.T, e *testEnv) {
	f := e.fixture("Acme", "HQ")
	newer := linuxFacts("acme-ws-01")
	newer.AgentVersion = "0.3.0"
	e.enroll(f, newer)
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	data := []byte("agent 0.2.0")
	relID := publish(t, admin, "0.2.0", data)
	relURL := "/releases/" + relID

	res := ro.get(relURL)
	mustContain(t, "readonly release page", res.body, `id="rollback"`, "No rollback instruction is stored")
	mustNotContain(t, "readonly release page", res.body, `id="rollback-form"`, `id="rollback-agents"`)
	res = admin.get(relURL)
	mustContain(t, "admin release page", res.body, `id="rollback-form"`, `action="`+relURL+`/rollback"`)
	mustNotContain(t, "admin release page without instruction", res.body, `id="rollback-agents"`)

	good := signedRollback(t, releaseKey, "0.2.0", data)
	wantStatus(t, "technician rollback", tech.postFile(relURL+"/rollback", "", "statement", "a.rollback", good), http.StatusForbidden)
	wantStatus(t, "rollback without CSRF", admin.postFile(relURL+"/rollback", "-", "statement", "a.rollback", good), http.StatusForbidden)
	wantStatus(t, "rollback of an unknown release", admin.postFile("/releases/nope/rollback", "", "statement", "a.rollback", good), http.StatusNotFound)
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32))
	refusals := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("hello"), "This is not a rollback instruction"},
		{"another release", signedRollback(t, releaseKey, "0.1.0", data), "Rollback"},
		{"untrusted key", signedRollback(t, stranger, "0.2.0", data), "not trusted"},
	}
	for _, r := range refusals {
		res := admin.postFile(relURL+"/rollback", "", "statement", "a.rollback", r.data)
		wantStatus(t, r.name, res, http.StatusBadRequest)
		if msg := regexpFind(`id="rollback-error" role="alert">([^<]*)<`, res.body); !strings.Contains(msg, r.want) {
			t.Errorf("%s: error %q, want it to say %q", r.name, msg, r.want)
		}
	}

	res = admin.postFile(relURL+"/rollback", "", "statement", "a.rollback", good)
	wantStatus(t, "store the instruction", res, http.StatusSeeOther)
	res = admin.get(relURL)
	mustContain(t, "release page with an instruction", res.body, `id="rollback-state">rollback allowed`, `id="rollback-agents"`,
		`<option value="site:`+f.site.ID+`">Site HQ (Acme)</option>`, `<option value="client:`+f.client.ID+`">Client Acme</option>`,
		`href="/agents?os=linux&amp;release=`+relID+`&amp;rollback=1"`)
	mustNotContain(t, "readonly release page with an instruction", ro.get(relURL).body, `id="rollback-agents"`)
	if n := auditCount(t, e, "release.allow_rollback"); n != 1 {
		t.Errorf("%d release.allow_rollback entries, want 1", n)
	}

	// Without the rollback box the newer agent is skipped; with it, it is
	// sent back.
	res = admin.post("/updates", url.Values{"target": {"site:" + f.site.ID}, "release": {relID}})
	mustContain(t, "update to an older release", res.body, "on a newer version (ask for a rollback to go back)")
	res = admin.post("/updates", url.Values{"target": {"site:" + f.site.ID}, "release": {relID}, "rollback": {"1"}, "back": {relURL}})
	wantStatus(t, "roll back", res, http.StatusOK)
	mustContain(t, "roll back", res.body, "<h1>Roll back</h1>", `href="`+relURL+`"`)
	if got, want := bulkSummary(res.body), "Offered to 1 agent."; got != want {
		t.Errorf("roll back: summary %q, want %q", got, want)
	}
}
