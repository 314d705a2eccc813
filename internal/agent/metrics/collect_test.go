package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/winetest"
	"github.com/steward-rmm/steward/internal/protocol"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func allOn() Policy {
	p := DefaultPolicy()
	for g := range p.Enabled {
		p.Enabled[g] = true
	}
	return p
}

// collectUntil collects until a sample satisfies cond: rates need the
// CPU counters, which move in 10 ms ticks, to have moved since the last
// pass.
func collectUntil(t *testing.T, c *Collector, p Policy, what string, cond func(protocol.Sample) bool) protocol.Sample {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := c.Collect(t.Context(), p)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample with %s within 10s; last: %v", what, s.Values)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCollectKeysValid collects on this machine, twice so that rates
// appear, and checks that the server would accept every key and value.
func TestCollectKeysValid(t *testing.T) {
	c := NewCollector(discardLog())
	p := allOn()
	c.Collect(t.Context(), p)
	s := collectUntil(t, c, p, "CPU rates", func(s protocol.Sample) bool {
		_, all := s.Values["cpu.percent"]
		_, core := s.Values["cpu.core_percent:0"]
		// Wine's CPU time counters never move (scripts/wine/README.md).
		return all && core || winetest.Detected()
	})
	if s.Time.IsZero() {
		t.Error("sample has no time")
	}
	if len(s.Values) == 0 || len(s.Values) > protocol.MaxValuesPerSample {
		t.Fatalf("sample has %d values, want 1..%d", len(s.Values), protocol.MaxValuesPerSample)
	}
	for k, v := range s.Values {
		name, _, ok := protocol.SplitMetric(k)
		if !ok {
			t.Errorf("SplitMetric(%q) not ok", k)
			continue
		}
		if r := protocol.CheckValue(name, v); r != "" {
			t.Errorf("CheckValue(%q, %v) = %q, want valid", name, v, r)
		}
	}
	want := []string{"memory.percent", "memory.total_bytes", "uptime.seconds", "processes.count"}
	if !winetest.Detected() {
		want = append(want, "cpu.percent", "cpu.core_percent:0")
	}
	for _, k := range want {
		if _, ok := s.Values[k]; !ok {
			t.Errorf("sample lacks %q; got %d keys", k, len(s.Values))
		}
	}
	if _, err := json.Marshal(protocol.MetricsBatch{Samples: []protocol.Sample{s}}); err != nil {
		t.Errorf("sample does not encode: %v", err)
	}
}

func TestCollectRespectsPolicy(t *testing.T) {
	p := allOn()
	p.Enabled[GroupDisk] = false
	p.Enabled[GroupDiskIO] = false
	p.Enabled[GroupNetwork] = false
	c := NewCollector(discardLog())
	for range 2 {
		s := c.Collect(t.Context(), p)
		for k := range s.Values {
			for _, off := range []string{"disk.", "diskio.", "net."} {
				if strings.HasPrefix(k, off) {
					t.Errorf("collected %q with its group off", k)
				}
			}
		}
	}

	none := DefaultPolicy()
	clear(none.Enabled)
	if s := c.Collect(t.Context(), none); len(s.Values) != 0 {
		t.Errorf("every group off: got %v, want no values", s.Values)
	}
}

func TestRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name      string
		prev, cur counters
		want      map[string][2]float64
	}{
		{name: "first pass", cur: counters{at: t0, read: map[string][2]uint64{"sda": {1, 2}}}},
		{
			name: "per second",
			prev: counters{at: t0, read: map[string][2]uint64{"sda": {1000, 0}, "sdb": {0, 0}}},
			cur:  counters{at: t0.Add(2 * time.Second), read: map[string][2]uint64{"sda": {3000, 500}, "sdb": {0, 0}}},
			want: map[string][2]float64{"sda": {1000, 250}, "sdb": {0, 0}},
		},
		{
			name: "new instance and reset counter skipped",
			prev: counters{at: t0, read: map[string][2]uint64{"eth0": {5000, 5000}}},
			cur:  counters{at: t0.Add(time.Second), read: map[string][2]uint64{"eth0": {10, 6000}, "eth1": {7, 7}}},
			want: map[string][2]float64{},
		},
		{
			name: "no time passed",
			prev: counters{at: t0, read: map[string][2]uint64{"eth0": {1, 1}}},
			cur:  counters{at: t0, read: map[string][2]uint64{"eth0": {2, 2}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rates(tt.prev, tt.cur)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValuesSet(t *testing.T) {
	v := values{}
	v.set("cpu.percent", "", 100.7)          // clamped
	v.set("memory.percent", "", -3)          // clamped
	v.set("disk.percent", "", 5)             // needs an instance
	v.set("load.1", "x", 1)                  // takes none
	v.set("bogus", "", 1)                    // unknown
	v.set("swap.used_bytes", "", -1)         // impossible
	v.set("temperature.celsius", "a\nb", 40) // control character
	want := values{"cpu.percent": 100, "memory.percent": 0}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestValuesTrim(t *testing.T) {
	v := values{"cpu.percent": 1, "uptime.seconds": 2}
	for i := range protocol.MaxValuesPerSample {
		v.set("net.rx_bytes_per_s", fmt.Sprintf("veth%03d", i), 1)
	}
	got := v.trim()
	if len(got) != protocol.MaxValuesPerSample {
		t.Fatalf("trim kept %d values, want %d", len(got), protocol.MaxValuesPerSample)
	}
	for _, k := range []string{"cpu.percent", "uptime.seconds"} {
		if _, ok := got[k]; !ok {
			t.Errorf("trim dropped host-wide %q", k)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	def := DefaultPolicy()
	tests := []struct {
		name string
		doc  string
		want func(*Policy)
	}{
		{name: "none", doc: ``},
		{name: "not json", doc: `{"metrics":`},
		{name: "empty", doc: `{}`},
		{
			name: "full",
			doc: `{"metrics":{"interval":"15s","enabled":{"cpu":true,"disk":false,"temperature":true,"future":true},
				"buffer":{"max_samples":50,"max_bytes":4096},"retention":{"raw":"7d"}},"thresholds":{"cpu":90},"later":[1]}`,
			want: func(p *Policy) {
				p.Interval, p.MaxSamples, p.MaxBytes = 15*time.Second, 50, 4096
				p.Enabled[GroupDisk], p.Enabled[GroupTemperature], p.Enabled["future"] = false, true, true
			},
		},
		{name: "bad interval", doc: `{"metrics":{"interval":"soon"}}`},
		{name: "zero interval", doc: `{"metrics":{"interval":"0s"}}`},
		{name: "tiny interval floored", doc: `{"metrics":{"interval":"1ms"}}`, want: func(p *Policy) { p.Interval = MinInterval }},
		{name: "bad bounds", doc: `{"metrics":{"buffer":{"max_samples":0,"max_bytes":-1}}}`},
		{name: "wrong type keeps the rest", doc: `{"metrics":{"interval":"5s","enabled":"all"}}`, want: func(p *Policy) { p.Interval = 5 * time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := DefaultPolicy()
			if tt.want != nil {
				tt.want(&want)
			}
			got := ParsePolicy([]byte(tt.doc))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParsePolicy(%s) (-want +got):\n%s", tt.doc, diff)
			}
		})
	}
	if def.Enabled[GroupTemperature] || !def.Enabled[GroupCPU] || def.Interval != time.Minute {
		t.Errorf("DefaultPolicy() = %+v, want the documented defaults", def)
	}
}
