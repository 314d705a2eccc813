package sim

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 1013
go_memstats_heap_inuse_bytes 4.5e+07
process_resident_memory_bytes 8.8080384e+07
process_open_fds 1024 1700000000000
steward_agents_connected 1000
steward_agent_messages_total{direction="in",type="heartbeat"} 5
steward_agents_connected_other 7
broken_line
process_open_fds NaNx
`
	var m ServerMetrics
	if err := parseMetrics(strings.NewReader(in), &m); err != nil {
		t.Fatal(err)
	}
	// A second server adds up.
	if err := parseMetrics(strings.NewReader("steward_agents_connected 500\n"), &m); err != nil {
		t.Fatal(err)
	}
	want := ServerMetrics{RSS: 88080384, Heap: 45000000, Goroutines: 1013, OpenFDs: 1024, Agents: 1500}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("parseMetrics (-want +got):\n%s", diff)
	}
}
