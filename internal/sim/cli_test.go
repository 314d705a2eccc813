package sim_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/sim"
)

// summaryLine is the format of the one line steward-sim prints to stdout.
var summaryLine = regexp.MustCompile(`^connected=\d+ agents=\d+ errors=\d+ reconnects=\d+ commands=\d+ policies=\d+ inventories=\d+ enroll_time=\d+\.\d{3}s ` +
	`time_to_all_connected=(\d+\.\d{3}s|never) heartbeats=\d+ hb_rtt_p50=(\d+\.\d{3}ms|-) hb_rtt_p99=(\d+\.\d{3}ms|-) ` +
	`rss_mb=\d+\.\d rss_per_agent_kb=(\d+\.\d|-) heap_per_agent_kb=(\d+\.\d|-)( server_.*)?\n$`)

func TestCLI(t *testing.T) {
	srv := newServer(t, 300*time.Millisecond)
	token := srv.token
	env := func(token string) func(string) string {
		return func(k string) string {
			if k == sim.EnvToken {
				return token
			}
			return ""
		}
	}

	t.Run("all connected", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		args := []string{"--server", srv.URL, "--agents", "30", "--duration", "2s", "--report-every", "300ms", "--log-level", "warn", "--metrics"}
		if code := sim.Main(t.Context(), args, env(token), &stdout, &stderr); code != 0 {
			t.Fatalf("Main(%q) = %d, want 0; stderr:\n%s", args, code, &stderr)
		}
		out := stdout.String()
		if !summaryLine.MatchString(out) || !strings.HasPrefix(out, "connected=30 agents=30 errors=0 ") || strings.Contains(out, "=never") {
			t.Errorf("stdout = %q, want one summary line with all 30 connected", out)
		}
		if !strings.Contains(out, " server_agents=") {
			t.Errorf("stdout = %q, want the server's metrics with --metrics", out)
		}
		progress := stderr.String()
		for _, want := range []string{"sim: t=", " connected=30/30 ", " hb_rtt_p99=", " rss_per_agent_kb=", " time_to_all_connected=", " server_agents=30 "} {
			if !strings.Contains(progress, want) {
				t.Errorf("stderr lacks %q:\n%s", want, progress)
			}
		}
	})

	t.Run("nobody connected", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		args := []string{"--server", closedPort(t), "--agents", "2", "--state-dir", writeIdentities(t, 2), "--duration", "500ms", "--report-every", "0"}
		if code := sim.Main(t.Context(), args, env(""), &stdout, &stderr); code != 1 {
			t.Fatalf("Main(%q) = %d, want 1; stderr:\n%s", args, code, &stderr)
		}
		if out := stdout.String(); !summaryLine.MatchString(out) || !strings.HasPrefix(out, "connected=0 agents=2 ") {
			t.Errorf("stdout = %q, want one summary line with nobody connected", out)
		}
		if !strings.Contains(stderr.String(), "0 of 2 agents connected") {
			t.Errorf("stderr = %q, want it to say how many connected", &stderr)
		}
	})

	t.Run("refused token", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		args := []string{"--server", srv.URL, "--token", "ste_wrong", "--agents", "3", "--report-every", "0"}
		if code := sim.Main(t.Context(), args, env(""), &stdout, &stderr); code != 1 {
			t.Fatalf("Main(%q) = %d, want 1; stderr:\n%s", args, code, &stderr)
		}
		if got := stderr.String(); !strings.Contains(got, "401") || !strings.Contains(got, "unknown enrollment token") {
			t.Errorf("stderr = %q, want the server's refusal", got)
		}
		if out := stdout.String(); !summaryLine.MatchString(out) || !strings.HasPrefix(out, "connected=0 agents=3 ") {
			t.Errorf("stdout = %q, want one summary line", out)
		}
	})

	usage := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"-h"}, 0, "Usage:"},
		{"no server", []string{"--token", "t", "--agents", "1"}, 2, "servers:"},
		{"no agents", []string{"--server", "http://x", "--token", "t"}, 2, "agents:"},
		{"no token", []string{"--server", "http://x", "--agents", "1"}, 2, "token:"},
		{"bad scheme", []string{"--server", "ftp://x", "--token", "t", "--agents", "1"}, 2, "scheme"},
		{"bad source", []string{"--server", "http://x", "--token", "t", "--agents", "1", "--source-addrs", "127.0.0.9-127.0.0.1"}, 2, "source addresses"},
		{"bad level", []string{"--server", "http://x", "--token", "t", "--agents", "1", "--log-level", "loud"}, 2, "log level"},
		{"negative ramp", []string{"--server", "http://x", "--token", "t", "--agents", "1", "--ramp", "-1"}, 2, "ramp"},
		{"stray argument", []string{"--server", "http://x", "--token", "t", "--agents", "1", "extra"}, 2, "extra"},
		{"unknown flag", []string{"--agnets", "1"}, 2, "agnets"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := sim.Main(t.Context(), tt.args, env(""), &stdout, &stderr); code != tt.code {
				t.Errorf("Main(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.code, &stderr)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("Main(%q) stderr = %q, want it to mention %q", tt.args, &stderr, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("Main(%q) stdout = %q, want nothing", tt.args, &stdout)
			}
		})
	}
}
