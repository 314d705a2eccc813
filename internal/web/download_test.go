package web_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDownloadAgent(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	for _, name := range []string{"steward-agent-linux-amd64", "steward-agent-linux-arm64", "steward-agent-darwin-arm64", "steward-agent-windows-amd64.exe"} {
		if err := os.WriteFile(filepath.Join(e.agentDir, name), []byte("binary:"+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A secret beside the agent directory that traversal would reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.agentDir), "secret"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := e.browser() // no login needed

	for _, tc := range []struct {
		path, file string
	}{
		{"/download/agent/linux/x86_64", "steward-agent-linux-amd64"},
		{"/download/agent/linux/amd64", "steward-agent-linux-amd64"},
		{"/download/agent/linux/AMD64", "steward-agent-linux-amd64"},
		{"/download/agent/linux/aarch64", "steward-agent-linux-arm64"},
		{"/download/agent/linux/ARM64", "steward-agent-linux-arm64"},
		{"/download/agent/darwin/arm64", "steward-agent-darwin-arm64"},
		{"/download/agent/windows/AMD64", "steward-agent-windows-amd64.exe"},
		{"/download/agent/Windows/x86_64", "steward-agent-windows-amd64.exe"},
	} {
		res := b.get(tc.path)
		wantStatus(t, "GET "+tc.path, res, http.StatusOK)
		if res.body != "binary:"+tc.file {
			t.Errorf("GET %s served %q, want %s", tc.path, res.body, tc.file)
		}
		if got := res.header.Get("Content-Type"); got != "application/octet-stream" {
			t.Errorf("GET %s Content-Type %q", tc.path, got)
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
		{"/download/agent/linux/386", http.StatusBadRequest, "architecture amd64"},
		{"/download/agent/freebsd/amd64", http.StatusBadRequest, "linux, darwin or windows"},
		{"/download/agent/linux/..%2f..%2fsecret", http.StatusBadRequest, "no agent build"},
		{"/download/agent/..%2f..%2fsecret/amd64", http.StatusBadRequest, "no agent build"},
		{"/download/agent/linux/%2e%2e", http.StatusBadRequest, "no agent build"},
		{"/download/agent/darwin/amd64", http.StatusNotFound, "steward-agent-darwin-amd64 is not on this server"},
		{"/download/agent/windows/arm64", http.StatusNotFound, "make agents"},
	} {
		res := b.get(tc.path)
		wantStatus(t, "GET "+tc.path, res, tc.status)
		mustContain(t, "GET "+tc.path, res.body, tc.says)
		mustNotContain(t, "GET "+tc.path, res.body, "top secret")
	}
	// Dot segments are cleaned by the mux before any handler runs.
	res, err := http.Get(e.srv.URL + "/download/agent/linux/../../../secret")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Errorf("dot-segment path served status 200")
	}

	// The directory itself is not a file.
	if err := os.Mkdir(filepath.Join(e.agentDir, "steward-agent-darwin-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "directory named like a binary", b.get("/download/agent/darwin/amd64"), http.StatusNotFound)

	head, _ := http.NewRequest(http.MethodHead, e.srv.URL+"/download/agent/linux/amd64", nil)
	if r := b.do(head); r.status != http.StatusOK || r.header.Get("Content-Length") != "32" {
		t.Errorf("HEAD: status %d, Content-Length %q", r.status, r.header.Get("Content-Length"))
	}
	if !strings.Contains(b.get("/download/agent/linux/amd64").header.Get("Cache-Control"), "no-cache") {
		t.Error("downloads must revalidate: make agents replaces the files")
	}
}
