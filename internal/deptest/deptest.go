// Package deptest lists who imports whom in this module, with the go tool,
// so tests can enforce the architecture: which packages may import which,
// and what a binary may link.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is this module's import path, with the trailing slash.
const Module = "github.com/steward-rmm/steward/"

// Package is one package of the module as the go tool lists it.
type Package struct {
	// Path is relative to the module, e.g. "internal/store".
	Path string
	// Imports are the module packages its non-test files import directly,
	// relative to the module.
	Imports []string
	// External are the imports from outside the module (standard library
	// included).
	External []string
}

// List lists the packages matching pattern (e.g. "./...") for goos/amd64,
// run from dir.
func List(t testing.TB, dir, goos, pattern string) []Package {
	t.Helper()
	out := goList(t, dir, goos, "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pattern)
	var pkgs []Package
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		p := Package{Path: strings.TrimPrefix(f[0], Module)}
		for _, imp := range f[1:] {
			if rel, ok := strings.CutPrefix(imp, Module); ok {
				p.Imports = append(p.Imports, rel)
			} else {
				p.External = append(p.External, imp)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// Deps lists the import path of every package the package in dir links
// for goos/amd64, itself included.
func Deps(t testing.TB, dir, goos string) []string {
	t.Helper()
	return strings.Fields(goList(t, dir, goos, "{{.ImportPath}}", "-deps", "."))
}

func goList(t testing.TB, dir, goos, format string, args ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	cmd := exec.CommandContext(t.Context(), goTool, append([]string{"list", "-f", format}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v (GOOS=%s): %v\n%s", args, goos, err, msg)
	}
	return string(out)
}

// Within reports whether pkg is prefix or below it.
func Within(pkg string, prefixes ...string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
