package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// PolicyFile is the name of the file beside the config that keeps the last
// effective policy the agent applied.
const PolicyFile = "policy.json"

// Policy is the last effective policy the agent applied, kept so that after
// a restart the agent runs with it before it reaches the server. Policy is
// the server's canonical JSON; the file holds it indented, LoadPolicy
// returns it compact.
type Policy struct {
	Revision  string          `json:"revision"`
	Policy    json.RawMessage `json:"policy"`
	AppliedAt time.Time       `json:"applied_at"`
}

// PolicyPath returns the policy file beside a config file:
// /etc/steward-agent/agent.json → /etc/steward-agent/policy.json.
func PolicyPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), PolicyFile)
}

// LoadPolicy reads a policy file. A missing file yields an error matching
// fs.ErrNotExist.
func LoadPolicy(path string) (Policy, error) {
	var p Policy
	if err := readJSON(path, &p); err != nil {
		return Policy{}, fmt.Errorf("load policy: %w", err)
	}
	if p.Revision == "" || len(p.Policy) == 0 || p.Policy[0] != '{' {
		return Policy{}, fmt.Errorf("load policy: %s: revision and a policy object are required", path)
	}
	// Back to the compact form the server sent; the file is indented.
	var buf bytes.Buffer
	if err := json.Compact(&buf, p.Policy); err != nil {
		return Policy{}, fmt.Errorf("load policy: %w", err)
	}
	p.Policy = buf.Bytes()
	return p, nil
}

// SavePolicy writes a policy file atomically with the same restrictions as
// the config: policies can name paths and thresholds an attacker would like
// to read or change.
func SavePolicy(path string, p Policy) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("save policy: %w", err)
	}
	if err := writeFileSecure(path, append(b, '\n')); err != nil {
		return fmt.Errorf("save policy: %w", err)
	}
	return nil
}

// MetricsDir is the directory beside a config file that buffers metrics
// until the server has them: /etc/steward-agent/agent.json →
// /etc/steward-agent/metrics-buffer.
func MetricsDir(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "metrics-buffer")
}

// WriteFile writes data to path atomically with the same restrictions as
// the config, creating its directory (restricted) if needed. It is for the
// agent's other files that should be readable by root/SYSTEM only.
func WriteFile(path string, data []byte) error {
	return writeFileSecure(path, data)
}

// CommandsPath returns the file beside a config file that keeps the
// commands the agent took, so that a restarted agent does not run one
// again: /etc/steward-agent/agent.json → /etc/steward-agent/commands.json.
func CommandsPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "commands.json")
}

// PowerPath returns the file beside a config file that keeps the pending
// reboot or shutdown across agent restarts: /etc/steward-agent/agent.json
// → /etc/steward-agent/power.json.
func PowerPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "power.json")
}

// ScriptsDir returns the directory beside a config file where scripts run
// and their output is kept: /etc/steward-agent/agent.json →
// /etc/steward-agent/scripts.
func ScriptsDir(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "scripts")
}
