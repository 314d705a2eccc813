package deptest

import (
	"slices"
	"testing"
)

// rule says what a set of packages may not import. A package matches a
// rule when it is one of the rule's packages or below one.
type rule struct {
	why string
	// pkgs the rule is about; except exempts some of them.
	pkgs, except []string
	// only, when set, lists the module packages they may import (and
	// what is below them); forbid lists what they may never import.
	only, forbid []string
}

func rules() []rule {
	// The HTTP packages and the wiring: only the wiring (server) reaches
	// the HTTP layer, and only the console (cli) reaches the wiring.
	httpLayer := []string{"internal/web", "internal/api", "internal/gateway"}
	wiring := []string{"internal/server", "internal/cli"}
	testOnly := []string{"internal/servertest", "internal/store/storetest", "internal/deptest"}
	return []rule{
		{why: "the store speaks SQL and the wire types only", pkgs: []string{"internal/store"}, except: testOnly, only: []string{"internal/protocol"}},
		{why: "policy documents are pure data", pkgs: []string{"internal/policy"}, only: []string{"internal/schedule"}},
		{why: "the wire protocol is shared by agent and server and depends on nothing", pkgs: []string{"internal/protocol"}, only: []string{}},
		{why: "leaf helpers depend on nothing of the module", pkgs: []string{"internal/input", "internal/groupcommit", "internal/schedule"}, only: []string{}},
		{why: "services take permission checks from access and input errors from input, not from the manage service",
			pkgs: []string{"internal/command", "internal/alerting", "internal/push", "internal/effective", "internal/hub"}, forbid: []string{"internal/manage"}},
		{why: "the agent never imports server code", pkgs: []string{"internal/agent", "cmd/steward-agent"}, only: []string{"internal/agent", "internal/protocol", "internal/schedule"}},
		{why: "the simulator is an agent too", pkgs: []string{"internal/sim", "cmd/steward-sim"}, only: []string{"internal/sim", "internal/agent/backoff", "internal/protocol"}},
		{why: "domain packages do not reach up into the HTTP layer or the wiring",
			pkgs:   []string{"internal"},
			except: append(append(append([]string{"internal/e2e"}, httpLayer...), wiring...), testOnly...),
			forbid: append(append([]string{}, httpLayer...), wiring...)},
		{why: "only the wiring builds the HTTP layer", pkgs: []string{"internal", "cmd"},
			except: append(append(append([]string{}, wiring...), httpLayer...), testOnly...), forbid: httpLayer},
		{why: "only the console runs the server", pkgs: []string{"internal", "cmd"},
			except: append([]string{"internal/cli", "internal/servertest", "internal/server"}, "cmd/steward"), forbid: []string{"internal/server"}},
		{why: "test harnesses are for tests", pkgs: []string{"internal", "cmd"}, except: testOnly, forbid: testOnly},
	}
}

// violations returns what pkgs break of the rules.
func violations(pkgs []Package, rules []rule) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !Within(p.Path, r.pkgs...) || Within(p.Path, r.except...) {
				continue
			}
			for _, imp := range p.Imports {
				switch {
				case r.only != nil && !Within(imp, append(slices.Clone(r.only), r.pkgs...)...):
					out = append(out, p.Path+" imports "+imp+": "+r.why)
				case Within(imp, r.forbid...):
					out = append(out, p.Path+" imports "+imp+": "+r.why)
				}
			}
		}
	}
	return out
}

// TestArchitecture checks the import rules on every package of the module,
// for each OS the agent ships for (per-OS files have their own imports).
func TestArchitecture(t *testing.T) {
	for _, goos := range []string{"linux", "windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			pkgs := List(t, "../..", goos, "./...")
			if len(pkgs) < 20 {
				t.Fatalf("go list found %d packages; is the module root ../..?", len(pkgs))
			}
			for _, v := range violations(pkgs, rules()) {
				t.Error(v)
			}
		})
	}
}

// The rules catch what they are written for: a made-up module whose
// packages break each rule once.
func TestRulesCatch(t *testing.T) {
	pkgs := []Package{
		{Path: "internal/store", Imports: []string{"internal/protocol", "internal/policy"}},
		{Path: "internal/policy", Imports: []string{"internal/store"}},
		{Path: "internal/protocol", Imports: []string{"internal/policy"}},
		{Path: "internal/agent/control", Imports: []string{"internal/agent/config", "internal/hub"}},
		{Path: "internal/hub", Imports: []string{"internal/store", "internal/web"}},
		{Path: "internal/alerting", Imports: []string{"internal/server"}},
		{Path: "internal/manage", Imports: []string{"internal/servertest"}},
		{Path: "internal/command", Imports: []string{"internal/manage"}},
		{Path: "internal/server", Imports: []string{"internal/web", "internal/api", "internal/store"}},
		{Path: "internal/cli", Imports: []string{"internal/server"}},
	}
	got := violations(pkgs, rules())
	want := []string{
		"internal/store imports internal/policy: the store speaks SQL and the wire types only",
		"internal/policy imports internal/store: policy documents are pure data",
		"internal/protocol imports internal/policy: the wire protocol is shared by agent and server and depends on nothing",
		"internal/agent/control imports internal/hub: the agent never imports server code",
		"internal/hub imports internal/web: domain packages do not reach up into the HTTP layer or the wiring",
		"internal/hub imports internal/web: only the wiring builds the HTTP layer",
		"internal/alerting imports internal/server: domain packages do not reach up into the HTTP layer or the wiring",
		"internal/alerting imports internal/server: only the console runs the server",
		"internal/manage imports internal/servertest: test harnesses are for tests",
		"internal/command imports internal/manage: services take permission checks from access and input errors from input, not from the manage service",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%q\nwant:\n%q", got, want)
	}
}
