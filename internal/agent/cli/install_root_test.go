//go:build !windows

package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/internal/protocol"
)

// uninstallPost is one request a server saw on protocol.UninstallPath.
type uninstallPost struct {
	Method, Auth string
	Body         protocol.Uninstall
}

// uninstallRecorder answers protocol.UninstallPath with 204 and records
// each request; it stands for the server side, which is built elsewhere.
type uninstallRecorder struct {
	mu    sync.Mutex
	posts []uninstallPost
}

func (u *uninstallRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, protocol.MaxMachineBodyBytes+1))
	body, err := protocol.DecodeUninstall(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	u.posts = append(u.posts, uninstallPost{Method: r.Method, Auth: r.Header.Get("Authorization"), Body: body})
	u.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (u *uninstallRecorder) Posts() []uninstallPost {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uninstallPost(nil), u.posts...)
}

// machineServer enrolls agent-7 and records uninstall posts.
func machineServer(t *testing.T) (*httptest.Server, *uninstallRecorder) {
	t.Helper()
	rec := &uninstallRecorder{}
	mux := http.NewServeMux()
	mux.Handle("POST "+protocol.UninstallPath, rec)
	mux.HandleFunc("POST /agent/v1/enroll", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rec
}

// listFiles returns every file and directory below root, relative to it.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestInstallUninstallRoot installs into a directory tree, as an image
// build would, and uninstalls from it: both say what they do, both are
// idempotent, and uninstall tells the server and leaves nothing behind.
func TestInstallUninstallRoot(t *testing.T) {
	srv, rec := machineServer(t)
	cfgDir := filepath.Join(t.TempDir(), "steward-agent")
	path := filepath.Join(cfgDir, "agent.json")
	root := t.TempDir()
	bin := service.New(service.Options{}).DefaultBinary()

	code, stdout, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "tok-1", "--config", path, "--root", root)
	if code != 0 {
		t.Fatalf("install exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"as agent agent-7", "Copied this binary to " + filepath.Join(root, bin), "Installed under " + root} {
		if !strings.Contains(stdout, want) {
			t.Errorf("install stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, "sekret") {
		t.Errorf("install printed the agent secret")
	}
	self, _ := os.ReadFile(os.Args[0])
	if got, err := os.ReadFile(filepath.Join(root, bin)); err != nil || string(got) != string(self) {
		t.Errorf("the installed binary is not this binary: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, bin)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary mode: %v, %v", fi, err)
	}
	if len(listFiles(t, root)) < 4 {
		t.Errorf("root holds only %q", listFiles(t, root))
	}

	code, stdout, _ = runCLI(t, "install", "--server", srv.URL, "--token", "tok-1", "--config", path, "--root", root)
	if code != 0 || !strings.Contains(stdout, "keeping the enrollment") || !strings.Contains(stdout, "already installed; nothing changed") {
		t.Errorf("second install: exit %d, stdout:\n%s\nwant nothing changed", code, stdout)
	}

	// The tray's autostart entry (made by the tray) goes too.
	tray := filepath.Join(root, service.TrayDesktopFile)
	if runtime.GOOS == "darwin" {
		tray = filepath.Join(root, service.TrayLaunchAgent)
	}
	os.MkdirAll(filepath.Dir(tray), 0o755)
	os.WriteFile(tray, []byte("[Desktop Entry]\n"), 0o644)

	code, stdout, stderr = runCLI(t, "uninstall", "--config", path, "--root", root)
	if code != 0 {
		t.Fatalf("uninstall exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"Told the server that agent agent-7 is uninstalled", "Removed the tray's autostart entry", "Removed " + filepath.Join(root, bin), "Removed " + path} {
		if !strings.Contains(stdout, want) {
			t.Errorf("uninstall stdout lacks %q:\n%s", want, stdout)
		}
	}
	posts := rec.Posts()
	if len(posts) != 1 || posts[0].Method != http.MethodPost || posts[0].Auth != protocol.FormatCredential("agent-7", "sekret") || posts[0].Body.Reason == "" {
		t.Errorf("server saw %+v, want one POST with the agent's credentials and a reason", posts)
	}
	// Nothing is left but the empty directories of the root's layout.
	for _, p := range listFiles(t, root) {
		if fi, err := os.Stat(filepath.Join(root, p)); err == nil && !fi.IsDir() {
			t.Errorf("uninstall left %s", p)
		}
	}
	if _, err := os.Stat(cfgDir); !os.IsNotExist(err) {
		t.Errorf("config directory left: %v", err)
	}

	code, stdout, _ = runCLI(t, "uninstall", "--config", path, "--root", root)
	if code != 0 || strings.TrimSpace(stdout) != "Nothing to uninstall." {
		t.Errorf("second uninstall: exit %d, stdout %q; want 0 and nothing to uninstall", code, stdout)
	}
	if len(rec.Posts()) != 1 {
		t.Errorf("second uninstall told the server again")
	}
}

// TestUninstallKeepConfig keeps the enrollment, so it does not tell the
// server; TestUninstallServerDown goes on when no server answers.
func TestUninstallKeepConfig(t *testing.T) {
	srv, rec := machineServer(t)
	path := filepath.Join(t.TempDir(), "agent.json")
	root := t.TempDir()
	if code, _, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "t", "--config", path, "--root", root); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runCLI(t, "uninstall", "--keep-config", "--config", path, "--root", root)
	if code != 0 || !strings.Contains(stdout, "Keeping the enrollment as agent agent-7") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := config.Load(path); err != nil {
		t.Errorf("config gone with --keep-config: %v", err)
	}
	if len(rec.Posts()) != 0 {
		t.Errorf("the server was told although the enrollment is kept")
	}
}

func TestUninstallServerDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := config.Save(path, config.Config{ServerURLs: []string{closedURL(t), closedURL(t)}, AgentID: "agent-7", AgentSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "uninstall", "--config", path, "--root", t.TempDir())
	if code != 0 || !strings.Contains(stderr, "could not tell the server") || !strings.Contains(stdout, "Removed "+path) {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant 0, a warning, and the config removed", code, stdout, stderr)
	}
}

// TestInstallWithoutServiceManager: where no systemd runs (this CI
// container), install says so before spending the token and shows the
// watchdog as the supervisor.
func TestInstallWithoutServiceManager(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("launchd always runs on macOS")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: install would really install")
	}
	srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	path := filepath.Join(t.TempDir(), "agent.json")
	code, stdout, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "t", "--config", path)
	if code != exitFail || !strings.Contains(stderr, "no service manager runs on this machine") ||
		!strings.Contains(stderr, "steward-agent watchdog --config "+path) || !strings.Contains(stderr, "--no-service") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant 1 and the watchdog command", code, stdout, stderr)
	}
	if len(*reqs) != 0 {
		t.Errorf("the token was spent")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("config written: %v", err)
	}
	// status says the same.
	_, stdout, _ = runCLI(t, "status", "--config", path)
	if !strings.Contains(stdout, "Services:  none (no service manager runs on this machine") {
		t.Errorf("status does not report the missing service manager:\n%s", stdout)
	}
}
