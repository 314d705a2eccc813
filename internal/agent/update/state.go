package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Phases of an update on disk. The phase is written before each step that
// changes the binary, so that whoever starts next (the agent, or the
// watchdog that outlived it) knows what to finish or undo.
const (
	// PhaseSwapping: the binary is being replaced. A process that finds
	// this phase restores the backup if the binary is missing or is not
	// the new one.
	PhaseSwapping = "swapping"
	// PhaseSwapped: the new binary is in place and has not been confirmed
	// by the server yet; the backup is kept until it is.
	PhaseSwapped = "swapped"
	// PhaseRolledBack: the watchdog restored the backup; the agent reports
	// it once and clears the pending update.
	PhaseRolledBack = "rolled_back"
)

// State is the update state file (update.json in the update directory).
type State struct {
	Pending *Pending `json:"pending,omitempty"`
	// Failed lists versions that failed here, with why: they are not
	// tried again unless an offer asks to retry.
	Failed map[string]string `json:"failed,omitempty"`
}

// Pending is an update between swap and confirmation (or rollback).
type Pending struct {
	Phase       string    `json:"phase"`
	ReleaseID   string    `json:"release_id"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	ToSHA256    string    `json:"to_sha256"`
	Backup      string    `json:"backup"` // where the previous binary is kept
	SwappedAt   time.Time `json:"swapped_at"`
	Deadline    time.Time `json:"deadline"` // confirmed by then, or rolled back
	// Starts counts the agent's starts on the new binary; too many without
	// a confirmation mean it cannot come up, whatever the deadline says.
	Starts int `json:"starts,omitempty"`
	// Reason says why it was rolled back.
	Reason string `json:"reason,omitempty"`
}

// stateFile is the name of the state file in the update directory.
const stateFile = "update.json"

// LoadState reads the state in dir; a missing file is an empty state.
func LoadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read update state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("update state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return s, nil
}

// SaveState writes the state in dir atomically and durably: a crash leaves
// the old state or the new one.
func SaveState(dir string, s State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create update directory: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode update state: %w", err)
	}
	path := filepath.Join(dir, stateFile)
	tmp := path + ".tmp"
	if err := writeSync(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write update state: %w", err)
	}
	// os.Rename replaces the old state, on Windows too.
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write update state: %w", err)
	}
	syncDir(dir)
	return nil
}

// writeSync writes data to path and flushes it to disk.
func writeSync(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
