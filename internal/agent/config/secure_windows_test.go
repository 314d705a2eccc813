package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A reader holding the state file for a moment (steward-agent status) must
// not make the agent's next state write fail.
func TestSaveStateWhileReaderHoldsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.state.json")
	if err := SaveState(path, State{PID: 1}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		defer close(released)
		// The reader's moment: far shorter than the writer's retries.
		time.Sleep(50 * time.Millisecond)
		f.Close()
	}()
	err = SaveState(path, State{PID: 2})
	<-released
	if err != nil {
		t.Fatalf("save while a reader held the file: %v", err)
	}
	got, err := LoadState(path)
	if err != nil || got.PID != 2 {
		t.Fatalf("after the save: %+v, %v; want PID 2", got, err)
	}
}
