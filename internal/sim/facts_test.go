package sim

import (
	"testing"
	"time"
)

func TestFactsAreValid(t *testing.T) {
	booted := time.Now()
	hosts := map[string]bool{}
	ips := map[string]bool{}
	oses := map[string]int{}
	const n = 70000 // past 254·256, where the second octet turns over
	for i := range n {
		f := factsFor("sim-", i, booted)
		if err := f.Validate(); err != nil {
			t.Fatalf("factsFor(%d) = %+v: %v", i, f, err)
		}
		if hosts[f.Hostname] || ips[f.IPAddresses[0]] {
			t.Fatalf("factsFor(%d) repeats hostname %s or address %s", i, f.Hostname, f.IPAddresses[0])
		}
		hosts[f.Hostname], ips[f.IPAddresses[0]] = true, true
		oses[f.OS]++
		if f.AgentVersion != AgentVersion || f.BootTime.After(booted) {
			t.Fatalf("factsFor(%d) = %+v, want agent version %q and a past boot time", i, f, AgentVersion)
		}
	}
	if oses["windows"] != n*6/10 || oses["linux"] != n*3/10 || oses["darwin"] != n/10 {
		t.Errorf("OS mix over %d agents = %v, want 60%% windows, 30%% linux, 10%% darwin", n, oses)
	}
	if got := factsFor("lab-", 42, booted).Hostname; got != "lab-00042" {
		t.Errorf("hostname of agent 42 = %q, want lab-00042", got)
	}
}
