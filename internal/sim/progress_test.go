package sim

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	prev := Stats{Phase: PhaseEnroll, Elapsed: time.Second, Agents: 100, Enrolled: 10}
	st := Stats{Phase: PhaseEnroll, Elapsed: 2 * time.Second, Agents: 100, Enrolled: 60, EnrollRetries: 2}
	if got, want := progressLine(prev, st, nil, nil), "sim: t=2s enrolling=60/100 rate=50/s retries=2"; got != want {
		t.Errorf("enrolling progressLine = %q, want %q", got, want)
	}

	var h histogram
	h.record(time.Millisecond)
	prev = Stats{Phase: PhaseConnect, Elapsed: 2 * time.Second, Agents: 100, MessagesIn: 100, Errors: 1}
	st = Stats{
		Phase: PhaseConnect, Elapsed: 4 * time.Second, Agents: 100, Started: 100, Connected: 99, Connecting: 1,
		Errors: 3, Reconnects: 2, MessagesIn: 300, MessagesOut: 200, Commands: 5, HeartbeatRTT: h.snapshot(),
		TimeToAllConnected: 1500 * time.Millisecond, LastError: "connect: refused", RSS: 99 << 20, Heap: 99 << 19, Goroutines: 120,
	}
	got := progressLine(prev, st, &ServerMetrics{Agents: 99, RSS: 99 << 21, Goroutines: 110}, nil)
	for _, want := range []string{
		"sim: t=4s connected=99/100 connecting=1 errors=3 reconnects=2 in=100/s out=100/s commands=5 hb_rtt_p50=1.0",
		"rss_mb=99.0 rss_per_agent_kb=1024.0 heap_per_agent_kb=512.0 goroutines=120",
		"time_to_all_connected=1.500s", "server_agents=99 server_rss_mb=198.0 server_rss_per_agent_kb=2048.0",
		`last_error="connect: refused"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("progressLine = %q, want it to contain %q", got, want)
		}
	}
	if got := progressLine(st, st, nil, errors.New("scrape: 404")); !strings.Contains(got, `server_metrics_error="scrape: 404"`) || strings.Contains(got, "last_error") {
		t.Errorf("progressLine without new errors = %q, want the scrape error and no last_error", got)
	}
	if got := progressLine(st, Stats{Phase: PhaseClose}, nil, nil); got != "" {
		t.Errorf("progressLine while closing = %q, want none", got)
	}
}
