package tray

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// openerOutEnv makes the test binary an opener (TestOpenerProcess) that
// records its command line and the file it was asked to open.
const openerOutEnv = "STEWARD_TRAY_OPENER_OUT"

type openerRecord struct {
	Args []string `json:"args"`
	File string   `json:"file"` // the content of the last argument, a file
}

func TestOpenerProcess(t *testing.T) {
	out := os.Getenv(openerOutEnv)
	if out == "" {
		t.Skip("helper process: an opener that records its command line")
	}
	r := openerRecord{Args: os.Args}
	target := os.Args[len(os.Args)-1]
	if u, err := url.Parse(target); err == nil && u.Scheme == "file" {
		// file:///C:/dir/open.html on Windows
		target = filepath.FromSlash(strings.TrimPrefix(u.Path, "/"))
	}
	if b, err := os.ReadFile(target); err == nil {
		r.File = string(b)
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

// TestPageOpenedWithoutTokenInArgv opens the help page the way a click
// does, through a real opener process: the opener's command line carries
// the path of a private redirect file, never the page's token; the file
// leads to the page and is gone once the browser followed it.
func TestPageOpenedWithoutTokenInArgv(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "opener.json")
	t.Setenv(openerOutEnv, out)
	log := slog.New(slog.DiscardHandler)
	l := &launcher{log: log, command: func(target string) (string, []string) {
		return exe, []string{"-test.run=^TestOpenerProcess$", target}
	}}
	u := &UI{Agent: &fakeAgent{}, Log: log, cfg: DefaultConfig(), openFile: l.openFile}
	t.Cleanup(u.closePages)
	if err := u.openPage(t.Context(), helpPage, Model{Title: "Acme IT"}); err != nil {
		t.Fatalf("openPage: %v", err)
	}
	l.wg.Wait() // the opener has exited
	p := u.pages[helpPage]

	var rec openerRecord
	b, err := os.ReadFile(out)
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		t.Fatalf("the opener left no record: %v", err)
	}
	for _, a := range rec.Args {
		if strings.Contains(a, p.token) {
			t.Errorf("opener argument %q carries the page's token", a)
		}
	}
	if last := rec.Args[len(rec.Args)-1]; last != fileTarget(p.File()) {
		t.Errorf("opener opened %q, want the redirect file %q", last, fileTarget(p.File()))
	}
	if !strings.Contains(rec.File, `url=`+p.URL()+`"`) || !strings.Contains(rec.File, `href="`+p.URL()+`"`) {
		t.Errorf("redirect file read by the opener:\n%s\nwant a refresh and a link to %s", rec.File, p.URL())
	}
	if runtime.GOOS != "windows" {
		// On Windows the user's temporary directory is private by its ACL.
		for path, want := range map[string]fs.FileMode{p.File(): 0o600, filepath.Dir(p.File()): 0o700} {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: got %v, %v; want mode %v", path, fi.Mode().Perm(), err, want)
			}
		}
	}

	// The browser follows the redirect: the file goes.
	if code, _ := get(t, p.URL()); code != http.StatusOK {
		t.Fatalf("GET the page: %d", code)
	}
	if _, err := os.Stat(filepath.Dir(p.File())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("redirect directory after the page was loaded: %v, want it removed", err)
	}
}

// TestRedirectRemovedWhenPageCloses: a page nobody loaded leaves no file
// behind once it stops.
func TestRedirectRemovedWhenPageCloses(t *testing.T) {
	p := startTestPage(t, aboutPage, &fakeAgent{}, pageLifetime)
	if _, err := os.Stat(p.File()); err != nil {
		t.Fatalf("redirect file: %v", err)
	}
	p.Close()
	if _, err := os.Stat(filepath.Dir(p.File())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("redirect directory after Close: %v, want it removed", err)
	}
}

func TestOpenFileNeedsAbsolutePath(t *testing.T) {
	l := &launcher{log: slog.New(slog.DiscardHandler), command: func(string) (string, []string) {
		t.Fatal("the opener ran for a relative path")
		return "", nil
	}}
	if err := l.openFile("open.html"); err == nil {
		t.Error("openFile(relative) got nil, want an error")
	}
}

func TestFileTarget(t *testing.T) {
	if runtime.GOOS != "windows" {
		if got := fileTarget("/tmp/x y/open.html"); got != "/tmp/x y/open.html" {
			t.Errorf("fileTarget got %q, want the path", got)
		}
		return
	}
	const path = `C:\Users\John Smith\AppData\Local\Temp\steward-tray-1\open.html`
	const want = "file:///C:/Users/John%20Smith/AppData/Local/Temp/steward-tray-1/open.html"
	if got := fileTarget(path); got != want {
		t.Errorf("fileTarget(%q) got %q, want %q", path, got, want)
	}
}
