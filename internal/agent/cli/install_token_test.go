package cli

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
)

// env is a fake environment for install's LookupEnv.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// runInstall runs install with the given standard input and environment.
func runInstall(t *testing.T, stdin io.Reader, lookupEnv func(string) (string, bool), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = install(t.Context(), args, stdin, lookupEnv, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestInstallTokenSources enrolls with the token from each source: the
// server sees exactly the token, trimmed.
func TestInstallTokenSources(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("ste_file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		env   []string
		args  []string
		want  string
	}{
		{"argument", "", nil, []string{"--token", "ste_arg"}, "ste_arg"},
		{"standard input", "ste_stdin\n", nil, []string{"--token", "-"}, "ste_stdin"},
		{"standard input without newline", "  ste_stdin2", nil, []string{"--token", "-"}, "ste_stdin2"},
		{"standard input, first line only", "ste_first\nignored\n", nil, []string{"--token", "-"}, "ste_first"},
		{"file", "", nil, []string{"--token-file", tokenFile}, "ste_file"},
		{"environment", "", []string{"STEWARD_TOKEN", " ste_env\n"}, nil, "ste_env"},
		{"other variables do not count", "", []string{"STEWARD_TOKEN", "ste_env", "TOKEN", "x"}, nil, "ste_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
			args := append([]string{"--server", srv.URL, "--config", filepath.Join(t.TempDir(), "agent.json"), "--no-service"}, tt.args...)
			code, _, stderr := runInstall(t, strings.NewReader(tt.stdin), env(tt.env...), args...)
			if code != exitOK {
				t.Fatalf("install exit %d, want 0; stderr:\n%s", code, stderr)
			}
			if len(*reqs) != 1 || (*reqs)[0].Token != tt.want {
				t.Errorf("server saw %+v, want one enrollment with token %q", *reqs, tt.want)
			}
		})
	}
}

// TestInstallTokenErrors: no token, two sources, or an empty one is a usage
// error that names the sources, and the server is never asked.
func TestInstallTokenErrors(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	emptyFile := filepath.Join(dir, "empty")
	for p, data := range map[string]string{tokenFile: "ste_file\n", emptyFile: " \n"} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		stdin    string
		env      []string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"none", "", nil, nil, exitUsage, "an enrollment token is required: set STEWARD_TOKEN, or give --token - (standard input), --token-file FILE or --token TOKEN"},
		{"argument and environment", "", []string{"STEWARD_TOKEN", "b"}, []string{"--token", "a"}, exitUsage,
			"the enrollment token is given 2 ways (--token, STEWARD_TOKEN): give exactly one"},
		{"standard input and file", "a\n", nil, []string{"--token", "-", "--token-file", tokenFile}, exitUsage,
			"given 2 ways (--token - (standard input), --token-file)"},
		{"all three", "a\n", []string{"STEWARD_TOKEN", "b"}, []string{"--token-file", tokenFile, "--token", "-"}, exitUsage,
			"given 3 ways (--token - (standard input), --token-file, STEWARD_TOKEN)"},
		{"empty environment variable", "", []string{"STEWARD_TOKEN", ""}, nil, exitUsage, "the enrollment token from STEWARD_TOKEN is empty"},
		{"empty argument", "", nil, []string{"--token", " "}, exitUsage, "the enrollment token from --token is empty"},
		{"empty standard input", "", nil, []string{"--token", "-"}, exitUsage, "the enrollment token from standard input is empty"},
		{"blank first line", "\nste_second\n", nil, []string{"--token", "-"}, exitUsage, "from standard input is empty"},
		{"empty file", "", nil, []string{"--token-file", emptyFile}, exitUsage, "the enrollment token from " + emptyFile + " is empty"},
		{"file with two lines", "", nil, []string{"--token-file", writeTemp(t, "a\nb\n")}, exitUsage, "holds white space or several lines"},
		{"no file name", "", nil, []string{"--token-file", ""}, exitUsage, "--token-file names no file"},
		{"missing file", "", nil, []string{"--token-file", filepath.Join(dir, "nope")}, exitFail, "read the enrollment token: open " + filepath.Join(dir, "nope")},
		{"huge file", "", nil, []string{"--token-file", writeTemp(t, strings.Repeat("x", 5000))}, exitFail, "is larger than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
			path := filepath.Join(t.TempDir(), "agent.json")
			args := append([]string{"--server", srv.URL, "--config", path, "--no-service"}, tt.args...)
			code, _, stderr := runInstall(t, strings.NewReader(tt.stdin), env(tt.env...), args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
			if len(*reqs) != 0 {
				t.Errorf("the server was asked: %+v", *reqs)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a config was written: %v", err)
			}
		})
	}
}

// writeTemp writes data to a new file and returns its path.
func writeTemp(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
