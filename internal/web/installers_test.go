package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/store"
)

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestDownloadPackages(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	for _, name := range []string{"steward-agent-windows-amd64.msi", "steward-agent-linux-arm64.deb", "steward-agent-linux-amd64.rpm"} {
		if err := os.WriteFile(filepath.Join(e.agentDir, name), []byte("package:"+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	for _, tc := range []struct{ path, file string }{
		{"/download/agent/windows/x64.msi", "steward-agent-windows-amd64.msi"},
		{"/download/agent/windows/AMD64.msi", "steward-agent-windows-amd64.msi"},
		{"/download/agent/linux/aarch64.deb", "steward-agent-linux-arm64.deb"},
		{"/download/agent/linux/x86_64.rpm", "steward-agent-linux-amd64.rpm"},
	} {
		res := b.get(tc.path)
		wantStatus(t, "GET "+tc.path, res, http.StatusOK)
		if res.body != "package:"+tc.file {
			t.Errorf("GET %s served %q, want %s", tc.path, res.body, tc.file)
		}
		if got, want := res.header.Get("Content-Disposition"), `attachment; filename="`+tc.file+`"`; got != want {
			t.Errorf("GET %s Content-Disposition %q, want %q", tc.path, got, want)
		}
	}
	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{"/download/agent/windows/arm64.msi", http.StatusNotFound, "agent package steward-agent-windows-arm64.msi is not on this server; its administrator builds it with `make packages`"},
		{"/download/agent/linux/amd64.deb", http.StatusNotFound, "make packages"},
		{"/download/agent/windows/amd64.deb", http.StatusBadRequest, ".msi for windows"},
		{"/download/agent/darwin/arm64.msi", http.StatusBadRequest, "no \"msi\" package for darwin"},
		{"/download/agent/linux/amd64.deb.sig", http.StatusBadRequest, "package for linux"},
		{"/download/agent/linux/..%2fSHA256SUMS.deb", http.StatusBadRequest, "no agent build"},
	} {
		res := b.get(tc.path)
		wantStatus(t, "GET "+tc.path, res, tc.status)
		if !strings.Contains(res.body, tc.says) {
			t.Errorf("GET %s said %q, want it to say %q", tc.path, res.body, tc.says)
		}
	}
}

// TestInstallCommandChecksSHA256 runs the Linux and macOS one-liners in a
// real shell with curl replaced by a function that "downloads" a file: the
// agent runs only when its SHA-256 is the one the page shows.
func TestTokenPageDownloads(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	files := map[string]string{
		"steward-agent-linux-amd64": "bin-linux", "steward-agent-windows-amd64.exe": "bin-win",
		"steward-agent-windows-amd64.msi": "msi-x64", "steward-agent-linux-amd64.deb": "deb-amd64",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(e.agentDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := e.fixture("Initech", "Basement")
	b := e.signedIn(store.RoleTechnician)
	res := b.post("/sites/"+f.site.ID+"/tokens", url.Values{"expires_in": {"7d"}, "max_uses": {"2"}})
	wantStatus(t, "create token", res, http.StatusSeeOther)
	res = b.get(location(res))
	wantStatus(t, "token page", res, http.StatusOK)
	secret := regexpFind(`<code id="token-secret" class="mono">(ste_[A-Za-z0-9_-]+)</code>`, res.body)
	if secret == "" {
		t.Fatalf("token page shows no token:\n%s", res.body)
	}
	mustContain(t, "token page", res.body,
		// Every download with its SHA-256, linked when present.
		`<a href="/download/agent/windows/amd64.msi" download>steward-agent-windows-amd64.msi</a>`, sha256Hex("msi-x64"),
		`<a href="/download/agent/linux/amd64.deb" download>steward-agent-linux-amd64.deb</a>`, sha256Hex("deb-amd64"),
		sha256Hex("bin-linux"), sha256Hex("bin-win"),
		// The one-liners check them.
		"x86_64|amd64) H="+sha256Hex("bin-linux")+";;", "AMD64=&#39;"+sha256Hex("bin-win")+"&#39;",
		// What follows each package, with the token.
		"msiexec /i steward-agent-windows-amd64.msi /qn SERVER="+testPublicURL+" TOKEN="+secret,
		"$S dpkg -i ./steward-agent-linux-amd64.deb &amp;&amp; printf &#39;%s\\n&#39; "+secret+" | $S steward-agent install --server "+testPublicURL+" --token -",
		"GPO or Intune",
		// A file not built is named with the command that builds it.
		"<td>steward-agent-windows-arm64.msi <span class=\"muted\">(MSI, arm64)</span></td>", "<code>make packages</code>",
	)
	if strings.Contains(res.body, `href="/download/agent/windows/arm64.msi"`) {
		t.Error("the page links to an MSI that was not built")
	}
	// The rpm was not built: no command follows it.
	if strings.Contains(res.body, "rpm -U ./steward-agent-linux-amd64.rpm") {
		t.Error("the page offers a command for an rpm that was not built")
	}
}
