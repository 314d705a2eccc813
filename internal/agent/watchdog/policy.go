package watchdog

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds and default of the policy's watchdog.interval.
const (
	DefaultInterval = 30 * time.Second
	MinInterval     = 10 * time.Second
	MaxInterval     = 10 * time.Minute
)

// Policy is the watchdog section of the agent's effective policy.
type Policy struct {
	Interval time.Duration
	Services []Service
}

// Service is one entry of watchdog.services: a service (Windows SCM name,
// systemd unit) or, where there is no service manager, a process name.
type Service struct {
	Name    string `json:"name"`
	Restart bool   `json:"restart"` // start it when it is found stopped
	Alert   bool   `json:"alert"`   // the server raises an alert while it is not running
}

// ParsePolicy reads the watchdog section of an effective policy document.
// It is tolerant, like the agent's other sections: a missing section, a
// field of the wrong type or a document that is not JSON keeps the
// defaults, an interval out of bounds is clamped, entries without a name
// are skipped and the list is cut at protocol.MaxWatchedServices, since a
// policy.json written before the section existed must keep working.
func ParsePolicy(doc json.RawMessage) Policy {
	p := Policy{Interval: DefaultInterval}
	var raw struct {
		Watchdog struct {
			Interval string            `json:"interval"`
			Services []json.RawMessage `json:"services"`
		} `json:"watchdog"`
	}
	_ = json.Unmarshal(doc, &raw)
	if d, err := time.ParseDuration(raw.Watchdog.Interval); err == nil && d > 0 {
		p.Interval = min(max(d, MinInterval), MaxInterval)
	}
	seen := map[string]bool{}
	for _, r := range raw.Watchdog.Services {
		var s Service
		if json.Unmarshal(r, &s) != nil {
			continue
		}
		s.Name = strings.TrimSpace(s.Name)
		if !validName(s.Name) || seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		p.Services = append(p.Services, s)
		if len(p.Services) == protocol.MaxWatchedServices {
			break
		}
	}
	return p
}

// LoadPolicy reads the watchdog section from the policy file the agent
// keeps beside its config (config.PolicyPath). A missing or unreadable
// file yields the defaults: the agent may not have received a policy yet.
func LoadPolicy(path string) Policy {
	p, err := config.LoadPolicy(path)
	if err != nil {
		return ParsePolicy(nil)
	}
	return ParsePolicy(p.Policy)
}

// validName accepts what a WatchdogReport can carry as a service name.
func validName(name string) bool {
	if name == "" || len(name) > protocol.MaxFieldLen || !utf8.ValidString(name) {
		return false
	}
	return !strings.ContainsFunc(name, unicode.IsControl)
}
