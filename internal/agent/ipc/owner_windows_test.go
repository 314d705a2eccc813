package ipc

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestProcessSIDFromProcessList checks the fallback a standard user's
// tray takes when it cannot open the agent's token: the process list
// gives this process the same SID as its token.
func TestProcessSIDFromProcessList(t *testing.T) {
	pid := windows.GetCurrentProcessId()
	want, err := tokenSID(pid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wtsProcessSID(pid)
	if err != nil {
		t.Fatalf("wtsProcessSID(%d): %v", pid, err)
	}
	if got != want {
		t.Errorf("wtsProcessSID(%d) got %s, want %s (the token's)", pid, got, want)
	}
	if _, err := wtsProcessSID(0xfffffff0); err == nil {
		t.Error("wtsProcessSID of a process that does not exist got no error")
	}
}
