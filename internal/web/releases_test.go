package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// releaseKey is the key the release tests sign with; the server trusts it.
var releaseKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

// releaseOptions are envOptions with releaseKey trusted.
func releaseOptions(t *testing.T) servertest.Options {
	opts := envOptions(t)
	opts.ReleaseKeys = []string{protocol.NewReleaseKey(releaseKey.Public().(ed25519.PublicKey)).String()}
	return opts
}

// newReleaseEnv starts a server on SQLite that trusts releaseKey.
func newReleaseEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnv(t, servertest.Start(t, releaseOptions(t)))
}

// eachReleaseEnv runs fn on a server per database engine that trusts
// releaseKey.
func eachReleaseEnv(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Helper()
	servertest.Each(t, releaseOptions(t), func(t *testing.T, s *servertest.Server) { fn(t, newEnv(t, s)) })
}

// linuxRelease is what a release key signs for data as version for
// linux/amd64.
func linuxRelease(version string, data []byte) protocol.ReleaseStatement {
	sum := sha256.Sum256(data)
	return protocol.ReleaseStatement{Version: version, OS: "linux", Arch: "amd64", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// signed returns the .sig file of data as version for linux/amd64.
func signed(t *testing.T, priv ed25519.PrivateKey, version string, data []byte) string {
	t.Helper()
	s, err := protocol.SignRelease(priv, linuxRelease(version, data))
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Encode())
}

// upload is one release form submission; empty parts are sent empty, as a
// browser sends an input left blank.
type upload struct {
	csrf      string // "" sends the browser's token; "-" sends none
	file, sig []byte
	channel   string
	notes     string
}

// upload posts the release form as a browser does: multipart, the CSRF
// token first.
func (b *browser) upload(u upload) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	switch u.csrf {
	case "":
		mw.WriteField(access.CSRFField, b.csrf())
	case "-":
	default:
		mw.WriteField(access.CSRFField, u.csrf)
	}
	// A browser sends an input with no file chosen as an empty part
	// without a file name.
	name := func(n string, data []byte) string {
		if data == nil {
			return ""
		}
		return n
	}
	fw, _ := mw.CreateFormFile("file", name("steward-agent", u.file))
	fw.Write(u.file)
	sw, _ := mw.CreateFormFile("signature", name("steward-agent.sig", u.sig))
	sw.Write(u.sig)
	mw.WriteField("channel", u.channel)
	mw.WriteField("notes", u.notes)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+"/releases", &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func TestReleasesPage(t *testing.T) {
	eachReleaseEnv(t, testReleasesPage)
}

func testReleasesPage(t *testing.T, e *testEnv) {
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	data := bytes.Repeat([]byte("agent bytes\n"), 100_000)
	good := upload{file: data, sig: []byte(signed(t, releaseKey, "2.1.0", data)), channel: "beta", notes: "fixes the tray"}

	res := ro.get("/releases")
	wantStatus(t, "readonly GET /releases", res, http.StatusOK)
	mustContain(t, "readonly releases page", res.body, `<h1>Releases</h1>`, `No release has been published yet.`, `href="/releases" aria-current="page"`)
	mustNotContain(t, "readonly releases page", res.body, `id="release-form"`)
	mustNotContain(t, "technician releases page", tech.get("/releases").body, `id="release-form"`)
	mustContain(t, "admin releases page", admin.get("/releases").body, `id="release-form"`, `enctype="multipart/form-data"`)

	wantStatus(t, "technician upload", tech.upload(good), http.StatusForbidden)
	wantStatus(t, "readonly upload", ro.upload(good), http.StatusForbidden)
	wantStatus(t, "upload without CSRF", admin.upload(upload{csrf: "-", file: data, sig: good.sig}), http.StatusForbidden)
	wantStatus(t, "upload with a wrong CSRF token", admin.upload(upload{csrf: "nope", file: data, sig: good.sig}), http.StatusForbidden)

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	refusals := []struct {
		name    string
		up      upload
		status  int
		errorID string
		want    string
	}{
		{"no file", upload{sig: good.sig, channel: "beta"}, http.StatusBadRequest, "release-file-error", "Part file is missing"},
		{"no signature", upload{file: data, channel: "beta"}, http.StatusBadRequest, "release-sig-error", "Part signature is missing"},
		{"garbage signature", upload{file: data, sig: []byte("{}"), channel: "beta"}, http.StatusBadRequest, "release-sig-error", "Signature"},
		{"untrusted key", upload{file: data, sig: []byte(signed(t, other, "2.1.0", data)), channel: "beta"}, http.StatusBadRequest, "release-sig-error", "not trusted"},
		{"tampered file", upload{file: append([]byte("X"), data[1:]...), sig: good.sig, channel: "beta"}, http.StatusBadRequest, "release-file-error", "not the file that was signed"},
		{"bad channel", upload{file: data, sig: good.sig, channel: "Beta 2", notes: "kept"}, http.StatusBadRequest, "release-channel-error", "channel name"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			res := admin.upload(r.up)
			wantStatus(t, r.name, res, r.status)
			msg := regexpFind(`id="`+r.errorID+`" role="alert">([^<]*)<`, res.body)
			if !strings.Contains(msg, r.want) {
				t.Errorf("%s: error beside the field %q is %q, want it to say %q", r.name, r.errorID, msg, r.want)
			}
		})
	}
	// What was typed stays in the form after a refusal.
	mustContain(t, "refused form", admin.upload(refusals[5].up).body, `value="Beta 2"`, `>kept</textarea>`)

	res = admin.upload(good)
	wantStatus(t, "publish", res, http.StatusSeeOther)
	relURL := location(res)
	if !strings.HasPrefix(relURL, "/releases/") {
		t.Fatalf("publish redirects to %q, want a release page", relURL)
	}
	page := ro.get(relURL)
	wantStatus(t, "readonly release page", page, http.StatusOK)
	mustContain(t, "release page", page.body, "2.1.0", "linux/amd64", "fixes the tray", "admin@example.com", "No agent has been offered this release yet.")
	mustNotContain(t, "readonly release page", page.body, "/halt", "/withdraw")
	mustContain(t, "admin release page", admin.get(relURL).body, `action="`+relURL+`/halt"`, `data-confirm="Halt release 2.1.0`, `action="`+relURL+`/withdraw"`)

	res = admin.upload(good)
	wantStatus(t, "publish again", res, http.StatusBadRequest)
	mustContain(t, "publish again", res.body, "already published")

	list := ro.get("/releases?channel=beta&status=active")
	mustContain(t, "filtered list", list.body, `href="`+relURL+`">2.1.0</a>`, "beta", "1.1 MB")
	mustContain(t, "filtered to halted", ro.get("/releases?status=halted").body, "No release matches these filters.")
	mustContain(t, "filtered to stable", ro.get("/releases?channel=stable").body, "No release matches these filters.")

	// Halt, resume, withdraw: admins only, audited, withdrawn for good.
	wantStatus(t, "technician halt", tech.post(relURL+"/halt", nil), http.StatusForbidden)
	wantStatus(t, "halt without CSRF", admin.postRaw(relURL+"/halt", url.Values{}), http.StatusForbidden)
	wantStatus(t, "halt", admin.post(relURL+"/halt", nil), http.StatusSeeOther)
	mustContain(t, "halted release", admin.get(relURL).body, `badge release-halted">halted`, `action="`+relURL+`/resume"`)
	wantStatus(t, "resume", admin.post(relURL+"/resume", nil), http.StatusSeeOther)
	wantStatus(t, "withdraw", admin.post(relURL+"/withdraw", nil), http.StatusSeeOther)
	res = admin.post(relURL+"/resume", nil)
	wantStatus(t, "resume a withdrawn release", res, http.StatusBadRequest)
	mustContain(t, "resume a withdrawn release", res.body, `id="release-error"`, "was withdrawn")
	mustNotContain(t, "withdrawn release", admin.get(relURL).body, `/halt"`, `/resume"`, `/withdraw"`)
	for _, action := range []string{"release.publish", "release.halt", "release.resume", "release.withdraw"} {
		entries, _, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: action}, store.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].ActorName != "admin@example.com" {
			t.Errorf("audit %s: %+v, want one entry by admin@example.com", action, entries)
		}
	}
	wantStatus(t, "unknown release", ro.get("/releases/nope"), http.StatusNotFound)
}

func TestReleasesPageWithoutKeys(t *testing.T) {
	e := newSQLiteEnv(t)
	admin := e.signedIn(store.RoleAdmin)
	mustContain(t, "releases page", admin.get("/releases").body, "This server trusts no release key")
	data := []byte("agent")
	res := admin.upload(upload{file: data, sig: []byte(signed(t, releaseKey, "1.0.0", data)), channel: "stable"})
	wantStatus(t, "upload", res, http.StatusConflict)
	mustContain(t, "upload", res.body, `id="release-sig-error"`, "trusts no release key")
}
