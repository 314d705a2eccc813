package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/enroll"
	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/internal/agent/tray"
	"github.com/steward-rmm/steward/internal/protocol"
)

const installHelp = `Usage: steward-agent install --server URL[,URL...] (--token - | --token-file FILE | --token TOKEN) [--config PATH] [--no-service] [--force]
       steward-agent install [--server URL[,URL...]] [--config PATH]   (enrolled already: a repair)

Enrolls this machine with a Steward server using a site enrollment token and
writes the agent config (server URLs, agent ID and secret), readable by
root/SYSTEM only. Run it as root (Administrator on Windows).

The token comes from exactly one of: the STEWARD_TOKEN environment
variable, standard input (--token -, its first line), a file (--token-file
FILE), or the command line (--token TOKEN). Prefer the first three: a
command line is visible to every local user while install runs.

A server that runs as several replicas can be given as several URLs, comma
separated or with --server repeated. Enrollment tries them in order and
moves on when one cannot be reached or answers with a server error (HTTP 5xx
or 429); any other refusal, such as an expired token, is final. The agent
later connects to any of them, moving to the next when its server goes away.

Run as root/Administrator, install first checks the config already there:
one that a user other than root/SYSTEM/Administrators could have written
(the file, or its folder) is not trusted; it is moved aside
(agent.json.untrusted-TIME, with the files beside it) and the machine
enrolls afresh. The default config folder (on Windows %ProgramData%\Steward
and everything in it) is given to root/SYSTEM with a protected ACL. A config
enrolled with other servers than --server names is replaced by a new
enrollment with the server given; one that shares a server is kept.

Unless --no-service is given, install then copies this binary to the
standard place (%ProgramFiles%\Steward\steward-agent.exe,
/usr/local/bin/steward-agent, /Library/Steward/steward-agent; a .deb or .rpm
installs /usr/bin/steward-agent and its units, which install then uses),
registers two services running it, the agent ("steward-agent run") and its
watchdog ("steward-agent watchdog"), and starts them. An agent left running
in the foreground by an earlier --no-service install is stopped first. Run
again, install keeps the enrollment and changes only what differs; it says
so when nothing did. An enrolled machine needs no token for that: install
without any token (and without --server, or with one the config shares)
keeps the enrollment and registers the services again, which is what a
repair of the MSI runs. Without an enrollment the token is required.

On a machine without a service manager (a container) install stops before
enrolling and says how to run the agent under "steward-agent watchdog"
instead.

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

// tokenEnv is the environment variable install reads the enrollment token
// from: unlike an argument, a process's environment is not shown to other
// users (/proc/PID/environ is its owner's only; Windows shows other users'
// command lines, not their environment).
const tokenEnv = "STEWARD_TOKEN"

// maxTokenBytes bounds what is read for a token; real ones are short.
const maxTokenBytes = 4 << 10

// tokenUsageError is a token given wrongly (none, twice, empty): a usage
// error, exit code 2.
type tokenUsageError string

func (e tokenUsageError) Error() string { return string(e) }

// usageErrorf formats a tokenUsageError.
func usageErrorf(format string, a ...any) error { return tokenUsageError(fmt.Sprintf(format, a...)) }

// tokenSources are the places an enrollment token may come from; exactly
// one of them must be used.
type tokenSources struct {
	Flag    string // --token T, or "-" for Stdin
	FlagSet bool
	File    string // --token-file F
	FileSet bool
	Stdin   io.Reader
	// LookupEnv reads tokenEnv (os.LookupEnv).
	LookupEnv func(string) (string, bool)
}

// errNoToken is install's answer when no source gives a token and the
// machine holds no enrollment to keep.
var errNoToken error = usageErrorf("an enrollment token is required: set %s, or give --token - (standard input), --token-file FILE or --token TOKEN", tokenEnv)

// given reports whether any token source is used; the environment counts
// when the variable is set, even empty (enrollmentToken then says so).
func (src tokenSources) given() bool {
	if src.FlagSet || src.FileSet {
		return true
	}
	if src.LookupEnv != nil {
		if _, ok := src.LookupEnv(tokenEnv); ok {
			return true
		}
	}
	return false
}

// enrollmentToken returns the token from the one source given: --token T,
// --token - (the first line of standard input), --token-file F, or the
// STEWARD_TOKEN environment variable. An argument is visible to every local
// user while install runs (ps, /proc/PID/cmdline, Windows process lists):
// the other three are not. Two sources, or an empty token, are an error
// (a tokenUsageError) rather than a guess.
func enrollmentToken(src tokenSources) (string, error) {
	envTok, envSet := "", false
	if src.LookupEnv != nil {
		envTok, envSet = src.LookupEnv(tokenEnv)
	}
	var names []string
	if src.FlagSet {
		if src.Flag == "-" {
			names = append(names, "--token - (standard input)")
		} else {
			names = append(names, "--token")
		}
	}
	if src.FileSet {
		names = append(names, "--token-file")
	}
	if envSet {
		names = append(names, tokenEnv)
	}
	switch len(names) {
	case 0:
		return "", errNoToken
	case 1:
	default:
		return "", usageErrorf("the enrollment token is given %d ways (%s): give exactly one", len(names), strings.Join(names, ", "))
	}
	var tok, from string
	switch {
	case src.FlagSet && src.Flag == "-":
		from = "standard input"
		if src.Stdin == nil {
			return "", fmt.Errorf("read the enrollment token: no standard input")
		}
		line, err := bufio.NewReader(io.LimitReader(src.Stdin, maxTokenBytes)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the enrollment token from standard input: %w", err)
		}
		tok = line
	case src.FlagSet:
		from, tok = "--token", src.Flag
	case src.FileSet:
		from = src.File
		if src.File == "" {
			return "", usageErrorf("--token-file names no file")
		}
		f, err := os.Open(src.File)
		if err != nil {
			return "", fmt.Errorf("read the enrollment token: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
		f.Close()
		if err != nil {
			return "", fmt.Errorf("read the enrollment token from %s: %w", src.File, err)
		}
		if len(b) > maxTokenBytes {
			return "", fmt.Errorf("%s is larger than %d bytes: not an enrollment token", src.File, maxTokenBytes)
		}
		tok = string(b)
	default:
		from, tok = tokenEnv, envTok
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", usageErrorf("the enrollment token from %s is empty", from)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", usageErrorf("the enrollment token from %s holds white space or several lines", from)
	}
	return tok, nil
}

// sharesServer reports whether an enrollment with the servers have is of
// use with the servers want: whether the lists name a server in common (a
// replica added or dropped is still the same server).
func sharesServer(have, want []string) bool {
	for _, h := range have {
		if u, err := config.ParseServerURL(h); err == nil && slices.Contains(want, u) {
			return true
		}
	}
	return false
}

// secureConfig is install's first step as root/Administrator. A config that
// someone other than root/SYSTEM/Administrators could have written (its
// file or its folder: a standard user may create %ProgramData%\Steward
// before the agent is installed) is reported and moved aside with the
// files beside it, so that this install enrolls afresh. The default
// config folder, and on Windows everything in it, is then given to
// SYSTEM/root first. A --config elsewhere whose folder others can still
// write is refused: the service would refuse it too.
func secureConfig(path string, now time.Time, stdout, stderr io.Writer) error {
	trustErr := config.CheckTrusted(path)
	if trustErr != nil && !errors.Is(trustErr, config.ErrUntrusted) {
		return trustErr
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil && abs == filepath.Dir(config.DefaultPath()) {
		changes, err := config.SecureDir(abs)
		for _, c := range changes {
			fmt.Fprintf(stdout, "  %s\n", c)
		}
		if errors.Is(err, config.ErrACLNotKept) {
			fmt.Fprintf(stderr, "warning: %v; the files are not protected\n", err)
		} else if err != nil {
			return err
		}
	}
	if trustErr != nil {
		fmt.Fprintf(stderr, "warning: %v.\nSomeone who is not an administrator could have written the agent's configuration: it is not used. "+
			"It is moved aside, and this machine enrolls afresh.\n", trustErr)
		moved, err := moveAside(path, now)
		for _, m := range moved {
			fmt.Fprintf(stdout, "  moved %s aside to %s\n", m, m+config.AsideSuffix(now))
		}
		if err != nil {
			return err
		}
	}
	if err := config.CheckTrusted(path); err != nil {
		return fmt.Errorf("%w; choose a --config in a folder that only administrators can write", err)
	}
	return nil
}

// moveAside renames the config and the files the agent keeps beside it
// (which whoever wrote the config could have written too) to
// NAME.untrusted-TIME, and returns the paths it moved.
func moveAside(cfgPath string, now time.Time) ([]string, error) {
	var moved []string
	for _, p := range []string{
		cfgPath, config.StatePath(cfgPath), config.PolicyPath(cfgPath),
		config.CommandsPath(cfgPath), config.MetricsDir(cfgPath), helpRequestsPath(cfgPath), config.ScriptsDir(cfgPath),
	} {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(p, p+config.AsideSuffix(now)); err != nil {
			return moved, fmt.Errorf("move the untrusted %s aside: %w", p, err)
		}
		moved = append(moved, p)
	}
	return moved, nil
}

func install(ctx context.Context, args []string, stdin io.Reader, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fl, path := newFlagSet("install", installHelp, stderr)
	var servers serverList
	fl.Var(&servers, "server", "server URL, https://host[:port]; several comma separated or repeated for replicas (required to enroll)")
	token := fl.String("token", "", "site enrollment `TOKEN`, or - to read it from standard input (or use --token-file, or "+tokenEnv+")")
	tokenFile := fl.String("token-file", "", "read the enrollment token from `FILE`")
	noService := fl.Bool("no-service", false, "only enroll and write the config; do not set up a service")
	force := fl.Bool("force", false, "re-enroll even if the config already holds an enrollment")
	root := fl.String("root", "", "install the binary and services under `DIR` instead of this system (an image, a test); nothing is started there")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	var serverURLs []string
	if len(servers) > 0 {
		var err error
		if serverURLs, err = parseServers(servers); err != nil {
			fmt.Fprintf(stderr, "steward-agent install: --server: %v\n", err)
			return exitUsage
		}
	}
	given := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { given[f.Name] = true })
	src := tokenSources{
		Flag: *token, FlagSet: given["token"], File: *tokenFile, FileSet: given["token-file"],
		Stdin: stdin, LookupEnv: lookupEnv,
	}
	// Without a token install can only keep an enrollment (a repair that
	// registers the services again); whether there is one is known only
	// after the config was checked below.
	var tok string
	if src.given() {
		var err error
		if tok, err = enrollmentToken(src); err != nil {
			fmt.Fprintf(stderr, "steward-agent install: %v\n", err)
			if _, ok := errors.AsType[tokenUsageError](err); ok {
				return exitUsage
			}
			return exitFail
		}
	} else if *force {
		fmt.Fprintf(stderr, "steward-agent install: --force enrolls again: %v\n", errNoToken)
		return exitUsage
	}
	// Without a config there is nothing to keep: what enrolling needs is
	// said before anything is touched.
	if _, err := os.Stat(*path); errors.Is(err, fs.ErrNotExist) || *force {
		if code, ok := needEnrollArgs(tok != "", serverURLs != nil, fl, stderr); !ok {
			return code
		}
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "steward-agent install: "+format+"\n", a...)
		return exitFail
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "steward-agent install: "+format+"\n", a...)
		return exitUsage
	}

	var svcs *service.Manager
	if !*noService {
		svcs = service.New(service.Options{Root: *root})
		if err := svcs.Available(); errors.Is(err, service.ErrNoServiceManager) {
			// Before enrolling: the token is not spent on a machine that
			// cannot run the agent as a service.
			shown := "URL"
			if len(serverURLs) > 0 {
				shown = strings.Join(serverURLs, ",")
			}
			return fail("%v.\nEnroll without a service and let the watchdog supervise the agent instead:\n\n"+
				"    steward-agent install --no-service --server %s --token-file FILE --config %s\n"+
				"    steward-agent watchdog --config %s\n\n"+
				"Start the watchdog from the container's entry point or the system's init.",
				err, shown, shellQuote(*path), shellQuote(*path))
		} else if err != nil {
			return fail("%v", err)
		}
	}
	if config.Privileged() {
		// The privileged agent obeys whoever can write its config: one
		// that others could have written (planted before install, in a
		// folder a standard user made) is moved aside, never used.
		if err := secureConfig(*path, time.Now(), stdout, stderr); err != nil {
			return fail("%v", err)
		}
	}
	if !*force {
		if _, err := os.Stat(*path); err == nil {
			cfg, err := config.Load(*path)
			switch {
			case err != nil:
				return fail("%s already exists; use --force to replace it", *path)
			case serverURLs != nil && !sharesServer(cfg.Servers(), serverURLs):
				if tok == "" {
					return usage("the config %s holds agent %s of %s, not of %s: enrolling with the new server needs an enrollment token: %v",
						*path, cfg.AgentID, strings.Join(cfg.Servers(), ", "), strings.Join(serverURLs, ", "), errNoToken)
				}
				// A machine moved to another server: the enrollment is of
				// no use there.
				fmt.Fprintf(stdout, "The config %s holds agent %s of %s, not of %s: enrolling with the new server.\n"+
					"Agent %s stays listed on the old server until it is deleted there.\n",
					*path, cfg.AgentID, strings.Join(cfg.Servers(), ", "), strings.Join(serverURLs, ", "), cfg.AgentID)
			case svcs != nil:
				// Installing again, or a repair without a token: keep the
				// enrollment, set up what is missing.
				if tok == "" {
					fmt.Fprintf(stdout, "No enrollment token given: keeping agent %s of %s and registering its services again where missing.\n",
						cfg.AgentID, strings.Join(cfg.Servers(), ", "))
				}
				return installService(ctx, svcs, *path, false, stdout, stderr)
			default:
				return fail("already enrolled as agent %s with %s (config %s); use --force to enroll again",
					cfg.AgentID, strings.Join(cfg.Servers(), ", "), *path)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fail("%v", err)
		}
	}
	// The config was moved aside, or is of another server.
	if code, ok := needEnrollArgs(tok != "", serverURLs != nil, fl, stderr); !ok {
		return code
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
	req := protocol.EnrollRequest{Token: tok, Facts: f}
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

// needEnrollArgs checks that what enrolling needs was given, a token and
// --server, and otherwise says what is missing (a usage error).
func needEnrollArgs(haveToken, haveServer bool, fl *flag.FlagSet, stderr io.Writer) (int, bool) {
	switch {
	case haveToken && haveServer:
		return exitOK, true
	case haveToken:
		fmt.Fprintln(stderr, "steward-agent install: --server is required")
		fl.Usage()
	case haveServer:
		fmt.Fprintf(stderr, "steward-agent install: %v\n", errNoToken)
	default:
		fmt.Fprintf(stderr, "steward-agent install: --server is required, and %v (an enrolled machine needs neither to register its services again)\n", errNoToken)
		fl.Usage()
	}
	return exitUsage, false
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

	if enrolled && !m.Offline() {
		// Services running from an earlier enrollment hold it in memory:
		// stopped here, Install starts them with the new one.
		for _, r := range service.Roles() {
			if st, err := m.Query(ctx, r); err == nil && st.Running {
				if err := m.Stop(ctx, r); err != nil {
					return fail("stop the %s service to use the new enrollment: %v", r, err)
				}
				fmt.Fprintf(stdout, "Stopped the %s service; it starts again with the new enrollment.\n", r)
			}
		}
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
	trayAdded, err := trayAutostart(m).Install(bin)
	if err != nil {
		return fail("%v", err)
	}
	if trayAdded {
		fmt.Fprintln(stdout, "  The tray starts at every user's next login.")
		changed = true
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
	if name, err := processName(st.PID); err != nil || !strings.HasPrefix(name, "steward-agent") {
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

// trayAutostart is the tray's autostart entry on the machine the services
// go to: the real one, or below a Linux or macOS --root (on Windows the
// entry is a registry value, which a --root does not redirect: none is
// written there).
func trayAutostart(m *service.Manager) interface {
	Install(binary string) (bool, error)
	Remove() (bool, error)
} {
	if !m.Offline() {
		return tray.Autostart{}
	}
	if runtime.GOOS == "windows" {
		return noAutostart{}
	}
	return tray.Autostart{Root: m.HostPath("/")}
}

// noAutostart stands for the tray's entry where none may be written.
type noAutostart struct{}

func (noAutostart) Install(string) (bool, error) { return false, nil }
func (noAutostart) Remove() (bool, error)        { return false, nil }
