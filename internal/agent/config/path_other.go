//go:build !linux && !darwin && !windows

package config

// DefaultPath is where install writes the config and run reads it. Other
// Unix systems (the BSDs) keep local configuration under /usr/local/etc.
func DefaultPath() string { return "/usr/local/etc/steward-agent/agent.json" }
