package inventory

import (
	"encoding/json"
	"time"
)

// DefaultInterval is how often the inventory is reported until the policy
// says otherwise (the policy's own default is the same day).
const DefaultInterval = 24 * time.Hour

// ParseInterval reads inventory.interval from an effective policy
// document. Like the metrics policy it is tolerant: a missing, malformed or
// non-positive value keeps DefaultInterval, so a newer server's policy never
// stops reporting.
func ParseInterval(doc json.RawMessage) time.Duration {
	var raw struct {
		Inventory struct {
			Interval string `json:"interval"`
		} `json:"inventory"`
	}
	_ = json.Unmarshal(doc, &raw) // a bad document keeps the default
	if d, err := time.ParseDuration(raw.Inventory.Interval); err == nil && d > 0 {
		return d
	}
	return DefaultInterval
}
