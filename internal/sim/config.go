package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Defaults for the tunables in Config.
const (
	DefaultNamePrefix        = "sim-"
	DefaultEnrollConcurrency = 32
	DefaultCloseConcurrency  = 64
	DefaultBackoffBase       = time.Second
	DefaultBackoffCap        = 30 * time.Second
	DefaultHandshakeTimeout  = 30 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultCloseTimeout      = 30 * time.Second
	// DefaultHeartbeat is used when the server's welcome names no interval.
	DefaultHeartbeat = 30 * time.Second
	// minHeartbeat floors the server's interval, against busy loops.
	minHeartbeat = 50 * time.Millisecond
	// heartbeatWorkers write heartbeats for all agents; a write that
	// stalls holds up only one of them.
	heartbeatWorkers = 16
	// heartbeatJitter spreads each interval over ±10%.
	heartbeatJitter = 0.1
)

// Config describes one simulation run. Servers, Agents and Token (unless
// StateDir already holds every identity) are required; zero tunables take
// their Default.
type Config struct {
	// Servers are base URLs, http(s)://host[:port][/prefix]. Agent i
	// starts at Servers[i % len] and moves to the next one after a failure.
	Servers []string
	// Token is a site enrollment token, used for agents without a saved
	// identity.
	Token string
	// Agents is how many agents to simulate.
	Agents int
	// Ramp is how many agents start connecting per second; 0 starts all at
	// once (the connect storm after a server restart).
	Ramp float64
	// Duration ends the run that long after the first agent started
	// connecting; 0 runs until the context ends.
	Duration time.Duration
	// StateDir, if set, keeps identities in StateDir/agents.json across
	// runs, so a rerun reconnects the same agents instead of enrolling new
	// ones.
	StateDir string
	// SourceAddrs spreads outgoing connections over local addresses:
	// comma-separated addresses, IPv4 ranges (127.0.0.1-127.0.0.200) or
	// IPv4 prefixes (127.0.0.0/24). Empty leaves the choice to the OS.
	SourceAddrs string
	// NamePrefix starts every simulated hostname.
	NamePrefix string
	// Version is the agent version the agents report until an update
	// replaces it; empty reports AgentVersion ("sim"), which the automatic
	// rollout never replaces.
	Version string
	// Platform, "os/arch" such as "linux/amd64", makes every agent that
	// platform (one release then reaches them all); empty mixes the
	// platforms of a typical fleet.
	Platform string
	// Update is how agents take update offers.
	Update UpdateConfig
	// ServerMetrics scrapes each server's /metrics (Prometheus text) at
	// the end of the run, for the server's memory per agent in Summary.
	ServerMetrics bool
	// Log receives phase changes at info and per-agent failures at debug;
	// nil discards.
	Log *slog.Logger

	EnrollConcurrency int           // parallel enrollment requests
	CloseConcurrency  int           // parallel close handshakes at the end
	BackoffBase       time.Duration // first reconnect delay ceiling
	BackoffCap        time.Duration // largest reconnect delay
	HandshakeTimeout  time.Duration // dial plus waiting for welcome
	WriteTimeout      time.Duration // one message write
	CloseTimeout      time.Duration // after this, remaining connections are dropped without a close handshake
}

// Validate names the first invalid field.
func (c *Config) Validate() error {
	if len(c.Servers) == 0 {
		return errors.New("servers: at least one server URL is required")
	}
	for _, s := range c.Servers {
		if _, err := connectURL(s); err != nil {
			return fmt.Errorf("servers: %w", err)
		}
	}
	switch {
	case c.Agents <= 0:
		return fmt.Errorf("agents: must be positive, got %d", c.Agents)
	case c.Token == "" && c.StateDir == "":
		return errors.New("token: an enrollment token is required without a state directory")
	case c.Ramp < 0:
		return fmt.Errorf("ramp: must not be negative, got %g", c.Ramp)
	case c.Duration < 0:
		return fmt.Errorf("duration: must not be negative, got %s", c.Duration)
	case strings.ContainsFunc(c.NamePrefix, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("name prefix: contains control characters")
	case len(c.NamePrefix) > 200:
		return errors.New("name prefix: longer than 200 bytes")
	}
	if _, err := parseSourceAddrs(c.SourceAddrs); err != nil {
		return err
	}
	if c.Version != "" && !protocol.ValidVersion(c.Version) {
		return fmt.Errorf("version: %q is not a version such as 1.4.0", c.Version)
	}
	if _, err := platformIndex(c.Platform); err != nil {
		return err
	}
	if err := c.Update.validate(); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		v    int
	}{{"enroll concurrency", c.EnrollConcurrency}, {"close concurrency", c.CloseConcurrency}} {
		if t.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", t.name, t.v)
		}
	}
	for _, t := range []struct {
		name string
		v    time.Duration
	}{
		{"backoff base", c.BackoffBase}, {"backoff cap", c.BackoffCap}, {"handshake timeout", c.HandshakeTimeout},
		{"write timeout", c.WriteTimeout}, {"close timeout", c.CloseTimeout},
	} {
		if t.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %s", t.name, t.v)
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	setDefault(&c.EnrollConcurrency, DefaultEnrollConcurrency)
	setDefault(&c.CloseConcurrency, DefaultCloseConcurrency)
	setDefault(&c.BackoffBase, DefaultBackoffBase)
	setDefault(&c.BackoffCap, DefaultBackoffCap)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.CloseTimeout, DefaultCloseTimeout)
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// connectURL derives the control-channel URL from a server base URL:
// http→ws, https→wss, with the connect path appended.
func connectURL(server string) (string, error) {
	u, err := baseURL(server)
	if err != nil {
		return "", err
	}
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path += protocol.ConnectPath
	return u.String(), nil
}

// baseURL parses and checks a server base URL, without a trailing slash.
func baseURL(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server url %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server url %q: scheme must be http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server url %q: missing host", server)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server url %q: must not have a query or fragment", server)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
