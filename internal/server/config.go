package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Config is the server's configuration, parsed once from flags and
// STEWARD_* environment variables by the CLI.
type Config struct {
	Listen      string
	DataDir     string
	DatabaseURL string
	NATSURL     string
	PublicURL   string
	AgentDir    string
	Heartbeat   time.Duration
	TrustProxy  bool
	Version     string
	// DebugListen, when set, serves Go's pprof profiles on a separate
	// listener (keep it on localhost).
	DebugListen string
	// ReleaseKeys are the release public keys the server trusts: each a
	// key in text form or a file of keys (release.LoadPublicKeys).
	ReleaseKeys []string
	// MaxDownloads bounds the release downloads served at once; 0 means
	// gateway.DefaultMaxDownloads.
	MaxDownloads int
	// RolloutEvery is how often the automatic rollout runs (default 30s);
	// RolloutBatch bounds the agents offered a release per run and
	// RolloutSpread spreads their downloads (updates.RolloutBatch and
	// updates.RolloutSpread when zero, and 30s for RolloutEvery). Lowered for small fleets and for
	// benchmarks.
	RolloutEvery  time.Duration
	RolloutBatch  int
	RolloutSpread time.Duration
	// ConfirmAbove is how many agents a script job may run on before the
	// caller must confirm the count; 0 never asks.
	ConfirmAbove int
}

// Validate checks the configuration and fills derived defaults, naming
// the bad setting on error.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return errors.New("--listen: must not be empty")
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port, e.g. :8080 or 127.0.0.1:8080", c.Listen)
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return errors.New("--data-dir: must not be empty when no --database-url is given")
	}
	if c.NATSURL != "" {
		if c.DatabaseURL == "" {
			return errors.New("--nats-url: several replicas need a shared PostgreSQL database; add --database-url postgres://... (the embedded SQLite file serves one replica only)")
		}
		u, err := url.Parse(c.NATSURL)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return fmt.Errorf("--nats-url %q: must be a nats:// or tls:// URL", c.NATSURL)
		}
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("--database-url: must be a postgres:// URL")
		}
	}
	if c.PublicURL == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--public-url %q: must be an http:// or https:// URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.AgentDir == "" && c.DataDir != "" {
		c.AgentDir = filepath.Join(c.DataDir, "agents")
	}
	switch {
	case c.RolloutEvery < 0 || (c.RolloutEvery > 0 && c.RolloutEvery < 100*time.Millisecond):
		return fmt.Errorf("--rollout-every %s: must be at least 100ms (or 0 for the default)", c.RolloutEvery)
	case c.RolloutBatch < 0 || c.RolloutBatch > 100_000:
		return fmt.Errorf("--rollout-batch %d: must be between 1 and 100000 (or 0 for the default)", c.RolloutBatch)
	case c.RolloutSpread < 0 || c.RolloutSpread > 24*time.Hour:
		return fmt.Errorf("--rollout-spread %s: must be between 0 and 24h", c.RolloutSpread)
	case c.ConfirmAbove < 0 || c.ConfirmAbove > 100_000:
		return fmt.Errorf("--confirm-above %d: must be between 0 (never ask) and 100000", c.ConfirmAbove)
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.Heartbeat < 200*time.Millisecond || c.Heartbeat > 10*time.Minute {
		return fmt.Errorf("--heartbeat %s: must be between 200ms and 10m", c.Heartbeat)
	}
	return nil
}
