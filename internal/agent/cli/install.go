package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/enroll"
	"github.com/steward-rmm/steward/internal/agent/facts"
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

Registering the agent as a system service is not available in this version;
install prints the command that runs the agent in the foreground.

Exit codes: 0 enrolled, 1 failed, 2 usage error.
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

	if !*force {
		if _, err := os.Stat(*path); err == nil {
			if cfg, err := config.Load(*path); err == nil {
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
	if !*noService {
		fmt.Fprintf(stdout, "\nRegistering a system service is not available in this version of steward-agent yet.\n"+
			"Run the agent in the foreground with:\n\n    steward-agent run --config %s\n", shellQuote(*path))
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
