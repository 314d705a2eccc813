package main

import (
	"testing"

	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/packaging"
)

// The units a package installs are the ones `steward-agent install` would
// write for the packaged binary, byte for byte: install then uses them in
// place instead of writing its own copies beside them.
func TestPackagedUnitsAreTheAgentsOwn(t *testing.T) {
	// The Linux paths whatever OS builds the packages.
	spec := service.Spec{Binary: "/usr/bin/steward-agent", Config: "/etc/steward-agent/agent.json"}
	for _, role := range service.Roles() {
		name := "linux/" + service.SystemdName(role)
		got, err := packaging.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if want := service.SystemdUnit(role, spec); string(got) != want {
			t.Errorf("packaging/%s differs from what the agent writes; replace it with:\n%s", name, want)
		}
	}
}
