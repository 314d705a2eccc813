package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies fails when the agent binary links a package it must not:
// anything of the server (every internal package other than the wire
// protocol and the agent tree), database drivers, the browser test driver or
// the metrics server library. It checks each OS the agent ships for, since
// per-OS files have their own imports.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	const module = "github.com/steward-rmm/steward/"
	allowedInternal := []string{module + "internal/protocol", module + "internal/agent"}
	forbidden := []string{
		"modernc.org/sqlite", "github.com/jackc/pgx", "database/sql",
		"github.com/chromedp", "github.com/prometheus", "html/template",
	}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".")
			cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			for _, pkg := range strings.Fields(string(out)) {
				if rest, ok := strings.CutPrefix(pkg, module); ok && rest != "cmd/steward-agent" {
					if !hasPathPrefix(pkg, allowedInternal) {
						t.Errorf("steward-agent links %s; it may only use internal/protocol and internal/agent/...", pkg)
					}
				}
				if hasPathPrefix(pkg, forbidden) {
					t.Errorf("steward-agent links %s", pkg)
				}
			}
		})
	}
}

func hasPathPrefix(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
