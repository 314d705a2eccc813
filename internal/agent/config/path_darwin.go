package config

// DefaultPath is where install writes the config and run reads it.
func DefaultPath() string { return "/Library/Application Support/Steward/agent.json" }
