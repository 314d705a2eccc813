package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
)

// TestLargestPolicyFitsTheWire fills every list field to its bound with the
// longest entries a document may hold: the canonical JSON an agent gets
// must still be one the agent's decoder accepts.
func TestLargestPolicyFitsTheWire(t *testing.T) {
	var d policy.Document
	mounts := map[string]policy.DiskLimits{}
	for i := range 64 {
		path := fmt.Sprintf("/%03d%s", i, strings.Repeat("m", 252))
		mounts[path] = policy.DiskLimits{PercentTrigger: 99.99999, PercentClear: 98.88888, FreeBytesTrigger: 1 << 59, FreeBytesClear: 1 << 60}
	}
	var services []policy.WatchedService
	for i := range 32 {
		services = append(services, policy.WatchedService{Name: fmt.Sprintf("%03d%s", i, strings.Repeat("s", 253)), Restart: true, Alert: true})
	}
	var links []policy.Link
	for i := range 10 {
		links = append(links, policy.Link{Title: fmt.Sprintf("%02d%s", i, strings.Repeat("t", 62)), URL: "https://" + strings.Repeat("u", 504)})
	}
	var schedules []policy.ScheduledScript
	for i := range 10 {
		args := make([]string, 16)
		for j := range args {
			args[j] = strings.Repeat("a", 11) // 16 × 13 + 17 = 225 bytes of JSON
		}
		args[0] += strings.Repeat("a", 31)
		schedules = append(schedules, policy.ScheduledScript{Name: fmt.Sprintf("%02d%s", i, strings.Repeat("n", 62)),
			ScriptID: strings.Repeat("i", 64), Args: args, When: "weekly mon,tue,wed,thu,fri,sat 02:30:00", Window: "167h59m59s", Enabled: true})
	}
	long := strings.Repeat("c", 200)
	for path, v := range map[string]any{
		"thresholds.disk_mounts": mounts, "watchdog.services": services, "tray.links": links, "scripts.schedules": schedules,
		"tray.company": long, "tray.support": long,
	} {
		if err := d.Set(path, v); err != nil {
			t.Fatalf("Set %s: %v", path, err)
		}
	}
	if errs := policy.Validate(d); len(errs) > 0 {
		t.Fatalf("the largest document is not valid: %v", errs)
	}
	eff := policy.Resolve(policy.Assignment{Level: policy.LevelAgent, Document: d})
	size := len(eff.CanonicalJSON())
	t.Logf("largest effective policy: %d bytes (limit %d)", size, protocol.MaxPolicyBytes)
	if size > protocol.MaxPolicyBytes {
		t.Fatalf("largest effective policy is %d bytes; agents accept at most %d", size, protocol.MaxPolicyBytes)
	}
}
