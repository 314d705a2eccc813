// Package metrics collects the agent's host metrics (CPU, memory, disks,
// network and the like) at the interval its policy sets, keeps them in a
// bounded on-disk buffer so that nothing is lost while the server is
// unreachable, and hands them to the control connection in batches that
// leave the buffer only once the server acknowledges them.
package metrics

import (
	"encoding/json"
	"time"
)

// Groups of metrics a policy turns on and off, as named in the policy's
// metrics.enabled object.
const (
	GroupCPU         = "cpu"
	GroupMemory      = "memory"
	GroupSwap        = "swap"
	GroupDisk        = "disk"
	GroupDiskIO      = "disk_io"
	GroupNetwork     = "network"
	GroupLoad        = "load"
	GroupUptime      = "uptime"
	GroupProcesses   = "processes"
	GroupUsers       = "users"
	GroupTemperature = "temperature"
)

// Defaults that apply until the agent has a policy, and for fields a
// policy leaves out or gets wrong.
const (
	DefaultInterval   = 60 * time.Second
	DefaultMaxSamples = 10000
	DefaultMaxBytes   = 16 << 20
	// MinInterval keeps a mistaken policy from turning collection into a
	// busy loop.
	MinInterval = time.Second
)

// Policy is the part of the agent's effective policy that concerns metrics.
type Policy struct {
	Interval   time.Duration
	Enabled    map[string]bool // by group; a group not listed is off
	MaxSamples int
	MaxBytes   int64
}

// DefaultPolicy is the policy in force before the server sent one.
func DefaultPolicy() Policy {
	return Policy{
		Interval: DefaultInterval,
		Enabled: map[string]bool{
			GroupCPU: true, GroupMemory: true, GroupSwap: true, GroupDisk: true,
			GroupDiskIO: true, GroupNetwork: true, GroupLoad: true, GroupUptime: true,
			GroupProcesses: true, GroupUsers: true, GroupTemperature: false,
		},
		MaxSamples: DefaultMaxSamples,
		MaxBytes:   DefaultMaxBytes,
	}
}

// On reports whether group is collected.
func (p Policy) On(group string) bool { return p.Enabled[group] }

// ParsePolicy reads the metrics section of an effective policy document.
// It is tolerant: unknown fields are ignored, and a missing or invalid
// field (or document) keeps its default, so that a newer server's policy
// never stops collection.
func ParsePolicy(doc json.RawMessage) Policy {
	p := DefaultPolicy()
	var raw struct {
		Metrics struct {
			Interval string          `json:"interval"`
			Enabled  map[string]bool `json:"enabled"`
			Buffer   struct {
				MaxSamples *int   `json:"max_samples"`
				MaxBytes   *int64 `json:"max_bytes"`
			} `json:"buffer"`
		} `json:"metrics"`
	}
	// A field of the wrong type leaves that field unset and the rest
	// decoded; a document that is not JSON leaves everything unset.
	_ = json.Unmarshal(doc, &raw)
	m := raw.Metrics
	if d, err := time.ParseDuration(m.Interval); err == nil && d > 0 {
		p.Interval = max(d, MinInterval)
	}
	for g, on := range m.Enabled {
		p.Enabled[g] = on
	}
	if n := m.Buffer.MaxSamples; n != nil && *n > 0 {
		p.MaxSamples = *n
	}
	if n := m.Buffer.MaxBytes; n != nil && *n > 0 {
		p.MaxBytes = *n
	}
	return p
}
