package metrics

import (
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/steward-rmm/steward/internal/agent/winetest"
	"github.com/steward-rmm/steward/internal/protocol"
)

func TestBusyPercent(t *testing.T) {
	prev := cpu.TimesStat{User: 100, System: 50, Idle: 800, Iowait: 50}
	tests := []struct {
		name string
		cur  cpu.TimesStat
		want float64
		ok   bool
	}{
		{"half busy", cpu.TimesStat{User: 130, System: 70, Idle: 840, Iowait: 60}, 50, true},
		{"idle", cpu.TimesStat{User: 100, System: 50, Idle: 900, Iowait: 50}, 0, true},
		{"all busy", cpu.TimesStat{User: 200, System: 50, Idle: 800, Iowait: 50}, 100, true},
		{"no time passed", prev, 0, false},
		{"counters went back", cpu.TimesStat{User: 1, Idle: 1}, 0, false},
	}
	for _, tt := range tests {
		got, ok := busyPercent(prev, tt.cur)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s: busyPercent = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFirstPassHasNoCPU(t *testing.T) {
	c := NewCollector(discardLog())
	p := DefaultPolicy()
	first := c.Collect(t.Context(), p)
	if _, ok := first.Values["cpu.percent"]; ok {
		t.Errorf("first pass reported cpu.percent = %v, want none (no previous snapshot)", first.Values["cpu.percent"])
	}
	winetest.Skip(t, "CPU time counters")
	later := collectUntil(t, c, p, "cpu.percent", func(s protocol.Sample) bool { _, ok := s.Values["cpu.percent"]; return ok })
	if v := later.Values["cpu.percent"]; v < 0 || v > 100 {
		t.Errorf("later pass cpu.percent = %v, want a value in [0, 100]", v)
	}
}
