package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the simulator an outsider: it may link the wire
// protocol, the agent's backoff and itself from this module, never the
// server, and none of the server's heavy dependencies.
func TestImports(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/steward-rmm/steward/"
	allowed := map[string]bool{
		module + "cmd/steward-sim":        true,
		module + "internal/sim":           true,
		module + "internal/protocol":      true,
		module + "internal/agent/backoff": true,
	}
	forbidden := []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/prometheus/client_golang", "github.com/shirou/gopsutil"}
	for pkg := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(pkg, module) && !allowed[pkg] {
			t.Errorf("steward-sim links %s; it may use only %v from this module", pkg, allowed)
		}
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("steward-sim links %s", pkg)
			}
		}
	}
}
