package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func validConfig() Config {
	return Config{
		ServerURL:   "https://rmm.example.com",
		ServerURLs:  []string{"https://rmm.example.com", "https://rmm2.example.com:8443"},
		AgentID:     "01J9ZK3V6Q8W",
		AgentSecret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ",
		EnrolledAt:  time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "agent.json")
	want := validConfig()
	if err := Save(path, want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load after Save (-want +got):\n%s", diff)
	}

	// Overwrite in place: still one file, no temporary files left behind.
	want.AgentID = "other"
	if err := Save(path, want); err != nil {
		t.Fatalf("second Save: %v", err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "agent.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only agent.json", names)
	}
}

func TestFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := Save(path, validConfig()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "server_url": "https://rmm.example.com",
  "server_urls": [
    "https://rmm.example.com",
    "https://rmm2.example.com:8443"
  ],
  "agent_id": "01J9ZK3V6Q8W",
  "agent_secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ",
  "enrolled_at": "2026-05-01T10:00:00Z"
}
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("file content (-want +got):\n%s", diff)
	}
}

// TestServerURLForms checks that Save and Load fill in whichever of
// server_url and server_urls is missing: a config written by an older agent
// has only server_url, and an older agent reading ours needs server_url.
func TestServerURLForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		file string // written as is and loaded; empty: save in
		in   Config
		want Config
	}{
		{
			name: "legacy file with server_url only",
			file: `{"server_url":"https://rmm.example.com","agent_id":"a","agent_secret":"s"}`,
			want: Config{ServerURL: "https://rmm.example.com", ServerURLs: []string{"https://rmm.example.com"}, AgentID: "a", AgentSecret: "s"},
		},
		{
			name: "file with server_urls only",
			file: `{"server_urls":["https://a.example.com","https://b.example.com"],"agent_id":"a","agent_secret":"s"}`,
			want: Config{ServerURL: "https://a.example.com", ServerURLs: []string{"https://a.example.com", "https://b.example.com"}, AgentID: "a", AgentSecret: "s"},
		},
		{
			name: "save with ServerURL only",
			in:   Config{ServerURL: "https://rmm.example.com", AgentID: "a", AgentSecret: "s"},
			want: Config{ServerURL: "https://rmm.example.com", ServerURLs: []string{"https://rmm.example.com"}, AgentID: "a", AgentSecret: "s"},
		},
		{
			name: "save with ServerURLs only",
			in:   Config{ServerURLs: []string{"https://b.example.com", "https://a.example.com"}, AgentID: "a", AgentSecret: "s"},
			want: Config{ServerURL: "https://b.example.com", ServerURLs: []string{"https://b.example.com", "https://a.example.com"}, AgentID: "a", AgentSecret: "s"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.json", i))
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := Save(path, tt.in); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want.ServerURLs, got.Servers()); diff != "" {
				t.Errorf("Servers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows uses ACLs, not mode bits")
	}
	dir := filepath.Join(t.TempDir(), "steward")
	path := filepath.Join(dir, "agent.json")
	if err := Save(path, validConfig()); err != nil {
		t.Fatal(err)
	}
	if err := SaveState(StatePath(path), State{PID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := SavePolicy(PolicyPath(path), Policy{Revision: "r1", Policy: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700 | fs.ModeDir},
		{path, 0o600},
		{StatePath(path), 0o600},
		{filepath.Join(dir, "policy.json"), 0o600},
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s got %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestExistingDirectoryLeftAlone(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows uses ACLs, not mode bits")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Save(filepath.Join(dir, "agent.json"), validConfig()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o755 {
		t.Errorf("mode of pre-existing directory got %v, want 0755 (unchanged)", got)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"missing", filepath.Join(dir, "nope.json"), "nope.json"},
		{"not json", write("bad.json", "{"), "parse"},
		{"no secret", write("nosecret.json", `{"server_url":"https://x","agent_id":"a"}`), "agent_secret is missing"},
		{"bad url", write("badurl.json", `{"server_url":"ftp://x","agent_id":"a","agent_secret":"s"}`), "server_url"},
		{"dotted id", write("dot.json", `{"server_url":"https://x","agent_id":"a.b","agent_secret":"s"}`), "agent_id is malformed"},
		{"space in secret", write("space.json", `{"server_url":"https://x","agent_id":"a","agent_secret":"s s"}`), "agent_secret is malformed"},
		{"bad second url", write("badurls.json", `{"server_urls":["https://x","x.example.com"],"agent_id":"a","agent_secret":"s"}`),
			`server_urls[1]: invalid server URL "x.example.com"`},
		{"empty url in list", write("emptyurls.json", `{"server_urls":["https://x",""],"agent_id":"a","agent_secret":"s"}`),
			"server_urls[1]: server URL is empty"},
		{"duplicate url", write("dup.json", `{"server_urls":["https://x","https://y","HTTPS://x/"],"agent_id":"a","agent_secret":"s"}`),
			"server_urls[2]: https://x repeats server_urls[0]"},
		{"server_url not first", write("notfirst.json", `{"server_url":"https://y","server_urls":["https://x","https://y"],"agent_id":"a","agent_secret":"s"}`),
			`server_url "https://y" is not the first entry of server_urls`},
		{"no server", write("noserver.json", `{"server_urls":[],"agent_id":"a","agent_secret":"s"}`), "server_url: server URL is empty"},
		{"too large", write("big.json", `{"x":"`+strings.Repeat("a", maxFileBytes)+`"}`), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load got error %v, want one containing %q", err, tt.wantErr)
			}
			// The operating system words it its own way (wine: "File not
			// found."): what a missing file must say is that it does not exist.
			if tt.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Load of a missing file = %v, want fs.ErrNotExist", err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "nope.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) got %v, want fs.ErrNotExist", err)
	}
}

func TestLoadIgnoresUnknownFields(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.json")
	content := `{"server_url":"https://x","agent_id":"a","agent_secret":"s","from_the_future":1}`
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Errorf("Load got %v, want no error", err)
	}
}

func TestParseServerURL(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "https://rmm.example.com", want: "https://rmm.example.com"},
		{in: "  https://rmm.example.com/ ", want: "https://rmm.example.com"},
		{in: "HTTPS://rmm.example.com:8443", want: "https://rmm.example.com:8443"},
		{in: "http://10.0.0.5:8080", want: "http://10.0.0.5:8080"},
		{in: "http://[::1]:8080/", want: "http://[::1]:8080"},
		{in: "https://example.com/steward/", want: "https://example.com/steward"},
		{in: "", wantErr: "empty"},
		{in: "rmm.example.com", wantErr: "add http:// or https:// in front, e.g. https://rmm.example.com"},
		{in: "rmm.example.com:8443", wantErr: "add http:// or https://"},
		{in: "127.0.0.1:8080", wantErr: `invalid server URL "127.0.0.1:8080": add http:// or https:// in front`},
		{in: "ws://rmm.example.com", wantErr: "must start with https://"},
		{in: "https://", wantErr: "missing host"},
		{in: "https:rmm", wantErr: "missing host"},
		{in: "https://user:pw@rmm.example.com", wantErr: "user name"},
		{in: "https://rmm.example.com/?a=b", wantErr: "query"},
		{in: "https://rmm.example.com/#x", wantErr: "fragment"},
		{in: "https://rmm.example.com:port", wantErr: "invalid server URL"},
		{in: "https://rmm example.com", wantErr: "invalid server URL"},
	}
	for _, tt := range tests {
		got, err := ParseServerURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseServerURL(%q) got (%q, %v), want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseServerURL(%q) got (%q, %v), want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := StatePath(filepath.Join(t.TempDir(), "agent.json"))
	if filepath.Base(path) != "agent.state.json" {
		t.Errorf("StatePath got %s, want agent.state.json", filepath.Base(path))
	}
	want := State{PID: 42, Connected: true, Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ServerURL: "https://x"}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadState (-want +got):\n%s", diff)
	}
	if err := RemoveState(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveState(path); err != nil {
		t.Errorf("RemoveState of missing file got %v, want nil", err)
	}
	if _, err := LoadState(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadState after remove got %v, want fs.ErrNotExist", err)
	}
}

func TestStatePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{filepath.Join("etc", "agent.json"), filepath.Join("etc", "agent.state.json")},
		{filepath.Join("etc", "agent.conf"), filepath.Join("etc", "agent.conf.state.json")},
	}
	for _, tt := range tests {
		if got := StatePath(tt.in); got != tt.want {
			t.Errorf("StatePath(%q) got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrepareDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := PrepareDir(filepath.Join(dir, "agent.json")); err != nil {
		t.Fatalf("PrepareDir: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("PrepareDir left %d files behind, want 0", len(entries))
	}
}

func TestPolicyFileFormat(t *testing.T) {
	path := PolicyPath(filepath.Join(t.TempDir(), "agent.json"))
	p := Policy{
		Revision:  "7f3a9c",
		Policy:    []byte(`{"metrics":{"interval":"60s"}}`),
		AppliedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
	}
	if err := SavePolicy(path, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "revision": "7f3a9c",
  "policy": {
    "metrics": {
      "interval": "60s"
    }
  },
  "applied_at": "2026-05-01T10:00:00Z"
}
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("file content (-want +got):\n%s", diff)
	}
	got, err := LoadPolicy(path)
	if err != nil {
		t.Fatalf("LoadPolicy: %v", err)
	}
	// The policy comes back compact, as the server sent it.
	if got.Revision != p.Revision || !got.AppliedAt.Equal(p.AppliedAt) || string(got.Policy) != string(p.Policy) {
		t.Errorf("LoadPolicy got %+v, want %+v", got, p)
	}
}
