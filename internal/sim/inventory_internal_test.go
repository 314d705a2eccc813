package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestInventoryFor(t *testing.T) {
	booted := time.Now()
	wantSource := map[string]string{"windows": protocol.SoftwareRegistry64, "darwin": protocol.SoftwareApplications}
	seen := map[string]bool{} // "name version" over the fleet
	teamViewer := 0
	const n = 70
	for i := range n {
		inv := inventoryFor("sim-", i, booted)
		if err := inv.Validate(time.Now()); err != nil {
			t.Fatalf("inventory of agent %d does not validate: %v", i, err)
		}
		f := factsFor("sim-", i, booted)
		if inv.OS.Name != f.OSName || !slices.Equal(inv.Hardware.NetworkAdapters[0].IPs, f.IPAddresses) {
			t.Errorf("agent %d: inventory %+v disagrees with facts %+v", i, inv.OS, f)
		}
		if len(inv.Software) == 0 {
			t.Fatalf("agent %d has no software", i)
		}
		for _, s := range inv.Software {
			seen[s.Name+" "+s.Version] = true
			if s.Name == "TeamViewer" {
				teamViewer++
			}
			if want, ok := wantSource[f.OS]; ok && s.Source != want && s.Source != protocol.SoftwareRegistry32 {
				t.Errorf("agent %d (%s): %s from %q, want %q", i, f.OS, s.Name, s.Source, want)
			}
		}
		// The same agent reports the same software every time.
		again := inventoryFor("sim-", i, booted)
		if !slices.Equal(again.Software, inv.Software) {
			t.Errorf("agent %d reported different software twice", i)
		}
	}
	// A fleet search must find some agents, not all: TeamViewer is on
	// every seventh Windows or macOS agent.
	if teamViewer == 0 || teamViewer > n/7+1 {
		t.Errorf("TeamViewer on %d of %d agents, want a few", teamViewer, n)
	}
	for _, v := range []string{"Google Chrome 131.0.6778.86", "Google Chrome 130.0.6723.117", "openssl 3.0.7-27.el9", "Slack 4.41.105"} {
		if !seen[v] {
			t.Errorf("no agent has %s", v)
		}
	}
}
