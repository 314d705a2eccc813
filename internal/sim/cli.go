package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvToken names the variable that can hold the enrollment token, so it
// need not appear in the process list.
const EnvToken = "STEWARD_SIM_TOKEN"

const usage = `steward-sim: simulate many steward agents against a steward server

Usage:
  steward-sim --server URL[,URL2,...] --token TOKEN --agents N [flags]

Enrolls N agents (or reuses those saved in --state-dir), connects them at
--ramp per second, keeps them heartbeating and answering commands until
--duration has passed or the process is interrupted, then closes every
connection and prints one summary line to stdout. Progress goes to stderr.
Exits 1 unless every agent was connected at the end.

Flags:
`

// Main runs the steward-sim command line and returns the exit code: 0 when
// every agent was connected at the end, 1 otherwise or on error, 2 for a
// usage error.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, opts, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "steward-sim:", err)
		return 2
	}
	s, err := New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "steward-sim:", err)
		return 2
	}

	progressCtx, stopProgress := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if opts.reportEvery > 0 {
		wg.Go(func() { report(progressCtx, s, opts, stderr) })
	}
	sum, err := s.Run(ctx)
	stopProgress()
	wg.Wait()

	fmt.Fprintln(stdout, sum)
	if err != nil {
		fmt.Fprintln(stderr, "steward-sim:", err)
		return 1
	}
	if !sum.OK() {
		fmt.Fprintf(stderr, "steward-sim: %d of %d agents connected at the end\n", sum.Connected, sum.Agents)
		return 1
	}
	return 0
}

// cliOptions are the flags that shape output rather than the simulation.
type cliOptions struct {
	reportEvery   time.Duration
	serverMetrics bool
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, cliOptions, error) {
	var (
		cfg      Config
		opts     cliOptions
		servers  string
		logLevel string
	)
	fs := flag.NewFlagSet("steward-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&servers, "server", "", "server base `URL`s, comma-separated; agent i starts at the (i mod n)-th and fails over to the next")
	fs.StringVar(&cfg.Token, "token", "", "site enrollment `token` (default $"+EnvToken+")")
	fs.IntVar(&cfg.Agents, "agents", 0, "number of agents to simulate")
	fs.Float64Var(&cfg.Ramp, "ramp", 0, "agents started per second; 0 starts all at once")
	fs.DurationVar(&cfg.Duration, "duration", 0, "run this long after the first agent starts connecting; 0 runs until interrupted")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "keep agent identities in `DIR`/"+StateFile+" and reuse them on the next run")
	fs.StringVar(&cfg.SourceAddrs, "source-addrs", "", "spread connections over local source `addresses`: 127.0.0.1-127.0.0.200, 127.0.0.0/24 or a comma-separated list")
	fs.DurationVar(&opts.reportEvery, "report-every", 5*time.Second, "progress line interval on stderr; 0 disables")
	fs.BoolVar(&opts.serverMetrics, "metrics", false, "scrape each server's /metrics and report the server's memory per agent too")
	fs.StringVar(&cfg.NamePrefix, "name-prefix", DefaultNamePrefix, "hostname `prefix` of simulated agents")
	fs.StringVar(&cfg.Version, "agent-version", "", "agent `VERSION` the agents report until an update replaces it, e.g. 1.0.0; default \""+AgentVersion+"\", which the automatic rollout never replaces")
	fs.StringVar(&cfg.Platform, "platform", "", "make every agent this `OS/ARCH` (linux/amd64, windows/amd64, windows/arm64, darwin/arm64); default a mixed fleet")
	fs.Float64Var(&cfg.Update.TimeScale, "update-time-scale", 1, "multiply the waits of an update offer (its download spread, a busy server's Retry-After) by this `factor` between 0 and 1")
	fs.BoolVar(&cfg.Update.Download, "update-download", false, "download and check each offered release file; without it the download is only reported")
	fs.Float64Var(&cfg.Update.FailRate, "update-fail-rate", 0, "`share` of agents (0 to 1) on which an update fails and is reported rolled back")
	fs.Func("update-fail-versions", "comma-separated release `versions` that fail on every agent", func(v string) error {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				cfg.Update.FailVersions = append(cfg.Update.FailVersions, f)
			}
		}
		return nil
	})
	fs.StringVar(&logLevel, "log-level", "info", "log level on stderr: debug (per-agent failures), info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, cliOptions{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, cliOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Token == "" {
		// Not the flag's default: -h would print the secret.
		cfg.Token = getenv(EnvToken)
	}
	for s := range strings.SplitSeq(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Servers = append(cfg.Servers, s)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return Config{}, cliOptions{}, fmt.Errorf("log level: %w", err)
	}
	if opts.reportEvery < 0 {
		return Config{}, cliOptions{}, errors.New("report every: must not be negative")
	}
	cfg.ServerMetrics = opts.serverMetrics
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return cfg, opts, nil
}

// report writes a progress line to w every opts.reportEvery until ctx ends.
func report(ctx context.Context, s *Sim, opts cliOptions, w io.Writer) {
	t := time.NewTicker(opts.reportEvery)
	defer t.Stop()
	prev := s.Stats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := s.Stats()
		var srv *ServerMetrics
		var srvErr error
		if opts.serverMetrics && st.Phase == PhaseConnect {
			sctx, cancel := context.WithTimeout(ctx, opts.reportEvery)
			m, err := s.ServerMetrics(sctx)
			cancel()
			srv, srvErr = &m, err
		}
		if line := progressLine(prev, st, srv, srvErr); line != "" {
			fmt.Fprintln(w, line)
		}
		if prev.TimeToAllConnected == 0 && st.TimeToAllConnected > 0 {
			fmt.Fprintf(w, "sim: all %d agents connected after %s\n", st.Agents, seconds(st.TimeToAllConnected))
		}
		prev = st
	}
}

// progressLine describes the interval from prev to st.
func progressLine(prev, st Stats, srv *ServerMetrics, srvErr error) string {
	secs := (st.Elapsed - prev.Elapsed).Seconds()
	rate := func(now, before int64) string {
		if secs <= 0 {
			return "0"
		}
		return strconv.FormatFloat(float64(now-before)/secs, 'f', 0, 64)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sim: t=%s", st.Elapsed.Round(100*time.Millisecond))
	switch st.Phase {
	case PhaseEnroll:
		fmt.Fprintf(&b, " enrolling=%d/%d rate=%s/s retries=%d", st.Enrolled, st.Agents,
			rate(int64(st.Enrolled), int64(prev.Enrolled)), st.EnrollRetries)
		return b.String()
	case PhaseConnect:
	default:
		return ""
	}
	rtt := st.HeartbeatRTT.Sub(&prev.HeartbeatRTT)
	fmt.Fprintf(&b, " connected=%d/%d connecting=%d errors=%d reconnects=%d in=%s/s out=%s/s commands=%d hb_rtt_p50=%s hb_rtt_p99=%s",
		st.Connected, st.Agents, st.Connecting, st.Errors, st.Reconnects,
		rate(st.MessagesIn, prev.MessagesIn), rate(st.MessagesOut, prev.MessagesOut), st.Commands,
		millis(rtt.Quantile(0.5), rtt.Count()), millis(rtt.Quantile(0.99), rtt.Count()))
	fmt.Fprintf(&b, " rss_mb=%.1f rss_per_agent_kb=%s heap_per_agent_kb=%s goroutines=%d",
		float64(st.RSS)/(1<<20), perAgentKB(st.RSS, st.Connected), perAgentKB(st.Heap, st.Connected), st.Goroutines)
	if st.ServerErrors > 0 {
		fmt.Fprintf(&b, " server_errors=%d", st.ServerErrors)
	}
	if u := st.Updates; u != (UpdateStats{}) {
		fmt.Fprintf(&b, " %s download_mb_per_s=%.1f", u, float64(u.Downloaded-prev.Updates.Downloaded)/(1<<20)/max(secs, 1e-9))
	}
	if st.TimeToAllConnected > 0 {
		fmt.Fprintf(&b, " time_to_all_connected=%s", seconds(st.TimeToAllConnected))
	}
	switch {
	case srvErr != nil:
		fmt.Fprintf(&b, " server_metrics_error=%q", srvErr.Error())
	case srv != nil:
		fmt.Fprintf(&b, " server_agents=%d server_rss_mb=%.1f server_rss_per_agent_kb=%s server_goroutines=%d",
			srv.Agents, float64(srv.RSS)/(1<<20), perAgentKB(srv.RSS, srv.Agents), srv.Goroutines)
	}
	if st.Errors > prev.Errors && st.LastError != "" {
		fmt.Fprintf(&b, " last_error=%q", st.LastError)
	}
	return b.String()
}

// String is the one-line summary steward-sim prints: space-separated
// key=value pairs, durations in seconds (s) or milliseconds (ms), memory
// per connected agent in KiB.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connected=%d agents=%d errors=%d reconnects=%d commands=%d policies=%d inventories=%d",
		s.Connected, s.Agents, s.Errors, s.Reconnects, s.Commands, s.Policies, s.Inventories)
	if s.Updates != (UpdateStats{}) {
		fmt.Fprintf(&b, " %s", s.Updates)
	}
	tta := "never"
	if s.TimeToAllConnected > 0 {
		tta = seconds(s.TimeToAllConnected)
	}
	fmt.Fprintf(&b, " enroll_time=%s time_to_all_connected=%s heartbeats=%d hb_rtt_p50=%s hb_rtt_p99=%s",
		seconds(s.EnrollTime), tta, s.Heartbeats, millis(s.RTTP50, s.Heartbeats), millis(s.RTTP99, s.Heartbeats))
	fmt.Fprintf(&b, " rss_mb=%.1f rss_per_agent_kb=%s heap_per_agent_kb=%s",
		float64(s.RSS)/(1<<20), perAgentKB(s.RSS, s.Connected), perAgentKB(s.Heap, s.Connected))
	if m := s.Server; m != nil {
		fmt.Fprintf(&b, " server_agents=%d server_rss_mb=%.1f server_rss_per_agent_kb=%s server_heap_per_agent_kb=%s server_goroutines=%d",
			m.Agents, float64(m.RSS)/(1<<20), perAgentKB(m.RSS, m.Agents), perAgentKB(m.Heap, m.Agents), m.Goroutines)
	}
	return b.String()
}

// String is the update counters as key=value pairs.
func (u UpdateStats) String() string {
	return fmt.Sprintf("updates_offered=%d updates_refused=%d updates_swapped=%d updates_confirmed=%d updates_failed=%d update_downloaded_mb=%.1f update_busy=%d update_reports_lost=%d",
		u.Offered, u.Refused, u.Swapped, u.Confirmed, u.Failed, float64(u.Downloaded)/(1<<20), u.Busy, u.Lost)
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// millis formats a latency; "-" when nothing was measured.
func millis(d time.Duration, n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
}

func perAgentKB(bytes uint64, agents int) string {
	if agents <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(bytes)/float64(agents)/1024, 'f', 1, 64)
}
