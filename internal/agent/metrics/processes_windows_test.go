package metrics

import "testing"

func TestReadProcesses(t *testing.T) {
	v := values{}
	if err := readProcesses(t.Context(), v); err != nil {
		t.Fatalf("readProcesses: %v", err)
	}
	// This test process at least.
	if n := v["processes.count"]; n < 1 {
		t.Errorf("readProcesses got %v processes, want at least 1", n)
	}
}
