package sim

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{Servers: []string{"http://127.0.0.1:8080"}, Token: "ste_x", Agents: 10}
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"state dir instead of token", func(c *Config) { c.Token, c.StateDir = "", "/tmp/x" }, ""},
		{"https with prefix", func(c *Config) { c.Servers = []string{"https://rmm.example.com/steward/"} }, ""},
		{"no servers", func(c *Config) { c.Servers = nil }, "servers:"},
		{"bad scheme", func(c *Config) { c.Servers = []string{"ws://x"} }, "scheme"},
		{"no host", func(c *Config) { c.Servers = []string{"http://"} }, "missing host"},
		{"query", func(c *Config) { c.Servers = []string{"http://x/?a=1"} }, "query"},
		{"no agents", func(c *Config) { c.Agents = 0 }, "agents:"},
		{"no token", func(c *Config) { c.Token = "" }, "token:"},
		{"negative ramp", func(c *Config) { c.Ramp = -1 }, "ramp:"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration:"},
		{"control in prefix", func(c *Config) { c.NamePrefix = "a\nb" }, "name prefix"},
		{"long prefix", func(c *Config) { c.NamePrefix = strings.Repeat("p", 201) }, "name prefix"},
		{"bad source", func(c *Config) { c.SourceAddrs = "x" }, "source addresses"},
		{"negative concurrency", func(c *Config) { c.EnrollConcurrency = -1 }, "enroll concurrency"},
		{"negative timeout", func(c *Config) { c.WriteTimeout = -1 }, "write timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConnectURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/agent/v1/connect"},
		{"https://rmm.example.com/", "wss://rmm.example.com/agent/v1/connect"},
		{"https://example.com/steward//", "wss://example.com/steward/agent/v1/connect"},
	} {
		if got, err := connectURL(tt.in); err != nil || got != tt.want {
			t.Errorf("connectURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
