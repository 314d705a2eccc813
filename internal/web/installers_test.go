package web

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestAgentSums(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("steward-agent-linux-amd64", "linux")
	write("steward-agent-windows-amd64.msi", "msi")
	names := []string{"steward-agent-linux-amd64", "steward-agent-windows-amd64.msi", "steward-agent-linux-arm64.deb"}
	log := slog.New(slog.DiscardHandler)

	// Without SHA256SUMS every file present is hashed; a missing one has no entry.
	got := agentSums(dir, names, log)
	want := map[string]string{"steward-agent-linux-amd64": sha256Hex("linux"), "steward-agent-windows-amd64.msi": sha256Hex("msi")}
	if len(got) != 2 || got["steward-agent-linux-amd64"] != want["steward-agent-linux-amd64"] || got["steward-agent-windows-amd64.msi"] != want["steward-agent-windows-amd64.msi"] {
		t.Errorf("agentSums without a list got %v, want %v", got, want)
	}

	// A list newer than a file is trusted for it (a made-up sum proves it
	// is read); a file rebuilt after the list is hashed again.
	const listed = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	write(sumsFile, listed+"  steward-agent-linux-amd64\n"+listed+" *steward-agent-windows-amd64.msi\nnot a line\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "steward-agent-linux-amd64"), old, old); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "steward-agent-windows-amd64.msi"), later, later); err != nil {
		t.Fatal(err)
	}
	got = agentSums(dir, names, log)
	if got["steward-agent-linux-amd64"] != listed {
		t.Errorf("file older than SHA256SUMS: sum %q, want the listed %q", got["steward-agent-linux-amd64"], listed)
	}
	if got["steward-agent-windows-amd64.msi"] != sha256Hex("msi") {
		t.Errorf("file newer than SHA256SUMS: sum %q, want its own %q", got["steward-agent-windows-amd64.msi"], sha256Hex("msi"))
	}
	if len(agentSums("", names, log)) != 0 {
		t.Error("agentSums without a directory found files")
	}
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
func TestInstallCommandChecksSHA256(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this system")
	}
	const agent = "#!/bin/sh\necho \"ran $*\"\n"
	for _, tc := range []struct {
		goos, tool string
	}{{"linux", "sha256sum"}, {"darwin", "shasum"}} {
		if _, err := exec.LookPath(tc.tool); err != nil {
			t.Logf("%s missing: the %s command is not run", tc.tool, tc.goos)
			continue
		}
		sums := map[string]string{agentFileName(tc.goos, "arm64", ""): sha256Hex(agent)}
		var cmd string
		for _, c := range installCommands("https://rmm.example.com", "ste_x", sums) {
			if c.ID == tc.goos {
				cmd = c.Text
			}
		}
		for _, run := range []struct {
			name, served, arch string
			runs               bool
		}{
			{"genuine download", agent, "aarch64", true},
			{"tampered download", agent + "echo evil\n", "aarch64", false},
			{"architecture without a build", agent, "x86_64", false},
		} {
			dir := t.TempDir()
			served := filepath.Join(dir, "served")
			if err := os.WriteFile(served, []byte(run.served), 0o644); err != nil {
				t.Fatal(err)
			}
			// Stand-ins: root (no sudo), the architecture, and a curl that
			// writes the served file to its -o argument.
			stubs := `id() { echo 0; }; uname() { echo ` + run.arch + `; }; curl() { cp "` + served + `" "$3"; }; `
			c := exec.Command(sh, "-c", stubs+cmd)
			c.Dir = dir
			out, _ := c.CombinedOutput()
			ran := strings.Contains(string(out), "ran install --no-service --server https://rmm.example.com --token ste_x") &&
				strings.Contains(string(out), "ran run")
			if ran != run.runs {
				t.Errorf("%s, %s: agent ran %v, want %v; output:\n%s", tc.goos, run.name, ran, run.runs, out)
			}
		}
	}
}

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
		"$S dpkg -i ./steward-agent-linux-amd64.deb &amp;&amp; $S steward-agent install --server "+testPublicURL+" --token "+secret,
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
