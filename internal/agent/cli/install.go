package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/enroll"
	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/internal/protocol"
)

const installHelp = `Usage: steward-agent install --server URL[,URL...] --token TOKEN [--config PATH] [--no-service] [--force]

Enrolls this machine with a Steward server using a site enrollment token and
writes the agent config (server URLs, agent ID and secret), readable by
root/SYSTEM only. Run it as root (Administrator on Windows).

A server that runs as several replicas can be given as several URLs, comma
separated or with --server repeated. Enrollment tries them in order and
moves on when one cannot be reached or answers with a server error (HTTP 5xx
or 429); any other refusal, such as an expired token, is final. The agent
later connects to any of them, moving to the next when its server goes away.

Unless --no-service is given, install then copies this binary to the
standard place (%ProgramFiles%\Steward\steward-agent.exe,
/usr/local/bin/steward-agent, /Library/Steward/steward-agent; a .deb or .rpm
installs /usr/bin/steward-agent and its units, which install then uses),
registers two services running it, the agent ("steward-agent run") and its
watchdog ("steward-agent watchdog"), and starts them. An agent left running
in the foreground by an earlier --no-service install is stopped first. Run
again, install keeps the enrollment and changes only what differs; it says
so when nothing did. On a machine without a service manager (a container)
install stops before enrolling and says how to run the agent under
"steward-agent watchdog" instead.

Exit codes: 0 installed (or enrolled, with --no-service), 1 failed, 2 usage
error.
`

// enrollTimeout bounds collecting facts, and then each enrollment request.
const enrollTimeout = 60 * time.Second

// serverList is the --server flag: comma-separated URLs, and the flag may be
// repeated. Entries are checked after parsing, by parseServers.
type serverList []string

func (l *serverList) String() string { return strings.Join(*l, ",") }

func (l *serverList) Set(v string) error {
	*l = append(*l, strings.Split(v, ",")...)
	return nil
}

// parseServers normalizes every URL with config.ParseServerURL and rejects
// duplicates.
func parseServers(raw []string) ([]string, error) {
	urls := make([]string, 0, len(raw))
	for _, r := range raw {
		u, err := config.ParseServerURL(r)
		if err != nil {
			return nil, err
		}
		if slices.Contains(urls, u) {
			return nil, fmt.Errorf("server URL %s is given twice", u)
		}
		urls = append(urls, u)
	}
	return urls, nil
}

func install(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path := newFlagSet("install", installHelp, stderr)
	var servers serverList
	fl.Var(&servers, "server", "server URL, https://host[:port]; several comma separated or repeated for replicas (required)")
	token := fl.String("token", "", "site enrollment token (required)")
	noService := fl.Bool("no-service", false, "only enroll and write the config; do not set up a service")
	force := fl.Bool("force", false, "re-enroll even if the config already holds an enrollment")
	root := fl.String("root", "", "install the binary and services under `DIR` instead of this system (an image, a test); nothing is started there")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if len(servers) == 0 || strings.TrimSpace(*token) == "" {
		fmt.Fprintln(stderr, "steward-agent install: --server and --token are required")
		fl.Usage()
		return exitUsage
	}
	serverURLs, err := parseServers(servers)
	if err != nil {
		fmt.Fprintf(stderr, "steward-agent install: --server: %v\n", err)
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "steward-agent install: "+format+"\n", a...)
		return exitFail
	}

	var svcs *service.Manager
	if !*noService {
		svcs = service.New(service.Options{Root: *root})
		if err := svcs.Available(); errors.Is(err, service.ErrNoServiceManager) {
			// Before enrolling: the token is not spent on a machine that
			// cannot run the agent as a service.
			return fail("%v.\nEnroll without a service and let the watchdog supervise the agent instead:\n\n"+
				"    steward-agent install --no-service --server %s --token TOKEN --config %s\n"+
				"    steward-agent watchdog --config %s\n\n"+
				"Start the watchdog from the container's entry point or the system's init.",
				err, strings.Join(serverURLs, ","), shellQuote(*path), shellQuote(*path))
		} else if err != nil {
			return fail("%v", err)
		}
	}
	if !*force {
		if _, err := os.Stat(*path); err == nil {
			cfg, err := config.Load(*path)
			if err == nil && svcs != nil {
				// Installing again: keep the enrollment, set up what is
				// missing.
				return installService(ctx, svcs, *path, false, stdout, stderr)
			}
			if err == nil {
				return fail("already enrolled as agent %s with %s (config %s); use --force to enroll again",
					cfg.AgentID, strings.Join(cfg.Servers(), ", "), *path)
			}
			return fail("%s already exists; use --force to replace it", *path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fail("%v", err)
		}
	}
	// Fail on permissions before the token is spent.
	if err := config.PrepareDir(*path); err != nil {
		return fail("%v (run as root, or Administrator on Windows)", err)
	}
	for _, u := range serverURLs {
		if strings.HasPrefix(u, "http://") {
			fmt.Fprintf(stderr, "warning: the server URL %s uses plain http; the agent secret will cross the network unencrypted\n", u)
		}
	}

	factsCtx, cancel := context.WithTimeout(ctx, enrollTimeout)
	f, err := facts.Collect(factsCtx, slog.New(slog.DiscardHandler), agent.Version)
	cancel()
	if err != nil {
		return fail("%v", err)
	}
	req := protocol.EnrollRequest{Token: strings.TrimSpace(*token), Facts: f}
	var resp protocol.EnrollResponse
	used := -1
	for i, u := range serverURLs {
		resp, err = enrollOnce(ctx, u, req)
		if err == nil {
			used = i
			break
		}
		if ctx.Err() != nil || !enroll.Retryable(err) || i == len(serverURLs)-1 {
			break
		}
		fmt.Fprintf(stderr, "warning: enrollment with %s failed: %v; trying %s\n", u, err, serverURLs[i+1])
	}
	if used < 0 {
		var se *enroll.ServerError
		if errors.As(err, &se) {
			return fail("the server refused the enrollment (HTTP %d): %s", se.StatusCode, se.Message)
		}
		return fail("%v", err)
	}
	serverURL := serverURLs[used]
	// The server that answered goes first: run tries it first.
	serverURLs = append([]string{serverURL}, slices.Delete(serverURLs, used, used+1)...)
	cfg := config.Config{
		ServerURLs:  serverURLs,
		AgentID:     resp.AgentID,
		AgentSecret: resp.AgentSecret,
		EnrolledAt:  time.Now().UTC().Truncate(time.Second),
	}
	if err := config.Save(*path, cfg); err != nil {
		// The secret exists only in memory now; without it this enrollment
		// is useless, so say how to clean up rather than print the secret.
		return fail("enrolled as agent %s but could not write the config: %v\nDelete agent %s on the server and run install again.", resp.AgentID, err, resp.AgentID)
	}

	fmt.Fprintf(stdout, "Enrolled with %s as agent %s.\nConfig written to %s\n", serverURL, resp.AgentID, *path)
	if svcs != nil {
		return installService(ctx, svcs, *path, true, stdout, stderr)
	}
	return exitOK
}

// enrollOnce enrolls with one server, bounded by enrollTimeout so that a
// server that does not answer leaves time for the next.
func enrollOnce(ctx context.Context, serverURL string, req protocol.EnrollRequest) (protocol.EnrollResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	return enroll.Enroll(ctx, http.DefaultClient, serverURL, req)
}

// foregroundStopWait bounds waiting for a foreground agent to exit after
// SIGTERM (and again after a kill).
const foregroundStopWait = 15 * time.Second

// installService finishes a service install once the config holds an
// enrollment (enrolled says this run made it): it stops an agent left in
// the foreground, puts this binary in the standard place, and registers
// and starts both services.
func installService(ctx context.Context, m *service.Manager, configPath string, enrolled bool, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "steward-agent install: "+format+"\n", a...)
		return exitFail
	}
	cfgPath, err := filepath.Abs(configPath)
	if err != nil {
		return fail("%v", err)
	}
	changed := enrolled
	if !enrolled {
		fmt.Fprintf(stdout, "Already enrolled (config %s); keeping the enrollment.\n", cfgPath)
	}
	if pid, err := stopForeground(ctx, m, cfgPath); err != nil {
		return fail("%v", err)
	} else if pid > 0 {
		fmt.Fprintf(stdout, "Stopped the agent running in the foreground (pid %d); the service replaces it.\n", pid)
		changed = true
	}

	bin := m.DefaultBinary()
	copied, err := placeBinary(ctx, m, bin)
	if err != nil {
		return fail("%v", err)
	}
	if copied {
		fmt.Fprintf(stdout, "Copied this binary to %s.\n", m.HostPath(bin))
		changed = true
	}

	res, err := m.Install(ctx, service.Spec{Binary: bin, Config: cfgPath})
	for _, c := range res.Changes {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	if err != nil {
		return fail("%v", err)
	}
	switch {
	case !changed && !res.Changed():
		fmt.Fprintln(stdout, "The Steward agent is already installed; nothing changed.")
	case m.Offline():
		fmt.Fprintf(stdout, "Installed under %s; the services start when a system boots from it.\n", m.HostPath("/"))
	default:
		fmt.Fprintln(stdout, "The Steward agent and its watchdog run as services now; \"steward-agent status\" shows them.")
	}
	return exitOK
}

// placeBinary copies the running binary to bin (below the manager's root)
// unless it is that file or an identical copy, and reports whether it
// copied. Services running the old binary are stopped first (Windows
// cannot replace a running executable; elsewhere they would keep running
// the old code); Install starts them again. A packaged binary is the
// package manager's: it is used as it is.
func placeBinary(ctx context.Context, m *service.Manager, bin string) (bool, error) {
	self, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("find this binary: %w", err)
	}
	if s, err := filepath.EvalSymlinks(self); err == nil {
		self = s
	}
	dst := m.HostPath(bin)
	if m.Packaged() {
		return false, nil
	}
	if same, err := sameContent(self, dst); err != nil {
		return false, err
	} else if same {
		return false, nil
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return false, fmt.Errorf("read this binary: %w", err)
	}
	if !m.Offline() {
		for _, r := range service.Roles() {
			if st, err := m.Query(ctx, r); err == nil && st.Running {
				if err := m.Stop(ctx, r); err != nil {
					return false, fmt.Errorf("stop the %s service to replace its binary: %w", r, err)
				}
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
	}
	if err := service.WriteFileAtomic(dst, data, 0o755); err != nil {
		return false, err
	}
	return true, nil
}

// sameContent reports whether a and b are the same file or hold the same
// bytes; a missing b is not the same.
func sameContent(a, b string) (bool, error) {
	fb, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	if os.SameFile(fa, fb) {
		return true, nil
	}
	if fa.Size() != fb.Size() {
		return false, nil
	}
	ba, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	bb, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ba, bb), nil
}

// stopForeground stops an agent that runs with this config outside the
// service manager (an earlier --no-service install), as its state file
// names it, and returns its pid (0 when there was none). The server keeps
// one connection per agent: two agents with one config would take turns.
func stopForeground(ctx context.Context, m *service.Manager, cfgPath string) (int, error) {
	st, err := config.LoadState(config.StatePath(cfgPath))
	if err != nil || st.PID == os.Getpid() || !pidAlive(ctx, st.PID) {
		return 0, nil
	}
	if s, err := m.Query(ctx, service.Agent); err == nil && s.PID == st.PID {
		return 0, nil // the service's own agent
	}
	// A pid from a stale state file may have been reused: only a
	// steward-agent is stopped.
	if p, err := process.NewProcessWithContext(ctx, int32(st.PID)); err != nil {
		return 0, nil
	} else if name, err := p.NameWithContext(ctx); err != nil || !strings.HasPrefix(name, "steward-agent") {
		return 0, nil
	}
	proc, err := os.FindProcess(st.PID)
	if err != nil {
		return 0, nil
	}
	// SIGTERM lets it close its connection; Windows knows only Kill.
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		proc.Kill()
	}
	if waitExit(ctx, st.PID, foregroundStopWait) {
		return st.PID, nil
	}
	proc.Kill()
	if waitExit(ctx, st.PID, foregroundStopWait) {
		return st.PID, nil
	}
	return 0, fmt.Errorf("the agent running in the foreground (pid %d) does not stop; stop it and run install again", st.PID)
}

// waitExit polls until pid is gone, up to limit: a process that is not our
// child cannot be waited for.
func waitExit(ctx context.Context, pid int, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for pidAlive(ctx, pid) {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return ctx.Err() == nil // a cancelled ctx also ends pidAlive
}
