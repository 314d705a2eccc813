package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// State is what a running agent reports about itself for `steward-agent
// status`. It is rewritten when the connection state changes and removed on
// clean exit; a State whose PID is no longer alive is stale.
type State struct {
	PID       int       `json:"pid"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`      // when Connected last changed
	ServerURL string    `json:"server_url"` // the server connected to, or else the one last tried
	LastError string    `json:"last_error,omitempty"`
	// PolicyRevision is the effective policy the agent runs, applied at
	// PolicyAppliedAt; empty until it has one.
	PolicyRevision  string    `json:"policy_revision,omitempty"`
	PolicyAppliedAt time.Time `json:"policy_applied_at,omitzero"`
}

// StatePath returns the state file beside a config file:
// /etc/steward-agent/agent.json → /etc/steward-agent/agent.state.json.
func StatePath(configPath string) string {
	dir, base := filepath.Split(configPath)
	return filepath.Join(dir, strings.TrimSuffix(base, ".json")+".state.json")
}

// LoadState reads a state file. A missing file yields an error matching
// fs.ErrNotExist.
func LoadState(path string) (State, error) {
	var s State
	if err := readJSON(path, &s); err != nil {
		return State{}, fmt.Errorf("load state: %w", err)
	}
	return s, nil
}

// SaveState writes a state file atomically with the same restrictions as the
// config.
func SaveState(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := writeFileSecure(path, append(b, '\n')); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// RemoveState deletes a state file; a missing file is not an error.
func RemoveState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}
