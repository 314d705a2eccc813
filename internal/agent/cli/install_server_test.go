package cli

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// TestInstallOtherServer: install --server naming another server than the
// enrollment's enrolls anew with it (a machine moved to another server);
// one that shares a server with the enrollment keeps it.
func TestInstallOtherServer(t *testing.T) {
	oldSrv, oldReqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-old", AgentSecret: "s1"})
	replica := closedURL(t)
	newSrv, newReqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-new", AgentSecret: "s2"})
	path := filepath.Join(t.TempDir(), "agent.json")
	if code, _, stderr := runCLI(t, "install", "--server", oldSrv.URL+","+replica, "--token", "t1", "--config", path, "--no-service"); code != exitOK {
		t.Fatalf("first install: %s", stderr)
	}

	// The same server (one replica of the enrollment's) keeps the
	// enrollment, as before: without --force, --no-service refuses.
	code, _, stderr := runCLI(t, "install", "--server", replica, "--token", "t2", "--config", path, "--no-service")
	if code != exitFail || !strings.Contains(stderr, "already enrolled as agent agent-old") {
		t.Errorf("install with a replica of the enrolled server: exit %d, stderr:\n%s\nwant the enrollment kept", code, stderr)
	}
	if len(*oldReqs) != 1 || len(*newReqs) != 0 {
		t.Errorf("servers saw %d and %d enrollments, want 1 and 0", len(*oldReqs), len(*newReqs))
	}

	code, stdout, stderr := runCLI(t, "install", "--server", newSrv.URL, "--token", "t2", "--config", path, "--no-service")
	if code != exitOK {
		t.Fatalf("install with another server: exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"holds agent agent-old of " + oldSrv.URL + ", " + replica + ", not of " + newSrv.URL + ": enrolling with the new server",
		"Agent agent-old stays listed on the old server",
		"Enrolled with " + newSrv.URL + " as agent agent-new",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if len(*newReqs) != 1 || (*newReqs)[0].Token != "t2" {
		t.Errorf("the new server saw %+v, want one enrollment with t2", *newReqs)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AgentID != "agent-new" || strings.Join(cfg.Servers(), ",") != newSrv.URL {
		t.Errorf("config holds %s with %v, want agent-new with %s", cfg.AgentID, cfg.Servers(), newSrv.URL)
	}
}

func TestSharesServer(t *testing.T) {
	tests := []struct {
		have, want []string
		shares     bool
	}{
		{[]string{"https://a"}, []string{"https://a"}, true},
		{[]string{"https://a", "https://b"}, []string{"https://b", "https://c"}, true},
		{[]string{"HTTPS://a/"}, []string{"https://a"}, true}, // an older config, not normalized
		{[]string{"https://a"}, []string{"https://b"}, false},
		{[]string{"https://a"}, []string{"http://a"}, false},
		{[]string{"https://a:8443"}, []string{"https://a"}, false},
		{nil, []string{"https://a"}, false},
	}
	for _, tt := range tests {
		if got := sharesServer(tt.have, tt.want); got != tt.shares {
			t.Errorf("sharesServer(%q, %q) = %v, want %v", tt.have, tt.want, got, tt.shares)
		}
	}
}
