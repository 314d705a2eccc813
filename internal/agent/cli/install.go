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
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/enroll"
	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/protocol"
)

const installHelp = `Usage: steward-agent install --server URL --token TOKEN [--config PATH] [--no-service] [--force]

Enrolls this machine with a Steward server using a site enrollment token and
writes the agent config (server URL, agent ID and secret), readable by
root/SYSTEM only. Run it as root (Administrator on Windows).

Registering the agent as a system service is not available in this version;
install prints the command that runs the agent in the foreground.

Exit codes: 0 enrolled, 1 failed, 2 usage error.
`

// enrollTimeout bounds the whole enrollment request.
const enrollTimeout = 60 * time.Second

func install(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path := newFlagSet("install", installHelp, stderr)
	server := fl.String("server", "", "server URL, https://host[:port] (required)")
	token := fl.String("token", "", "site enrollment token (required)")
	noService := fl.Bool("no-service", false, "only enroll and write the config; do not set up a service")
	force := fl.Bool("force", false, "re-enroll even if the config already holds an enrollment")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if *server == "" || strings.TrimSpace(*token) == "" {
		fmt.Fprintln(stderr, "steward-agent install: --server and --token are required")
		fl.Usage()
		return exitUsage
	}
	serverURL, err := config.ParseServerURL(*server)
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
				return fail("already enrolled as agent %s with %s (config %s); use --force to enroll again", cfg.AgentID, cfg.ServerURL, *path)
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
	if strings.HasPrefix(serverURL, "http://") {
		fmt.Fprintln(stderr, "warning: the server URL uses plain http; the agent secret will cross the network unencrypted")
	}

	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	f, err := facts.Collect(ctx, slog.New(slog.DiscardHandler), agent.Version)
	if err != nil {
		return fail("%v", err)
	}
	resp, err := enroll.Enroll(ctx, http.DefaultClient, serverURL, protocol.EnrollRequest{Token: strings.TrimSpace(*token), Facts: f})
	if err != nil {
		var se *enroll.ServerError
		if errors.As(err, &se) {
			return fail("the server refused the enrollment (HTTP %d): %s", se.StatusCode, se.Message)
		}
		return fail("%v", err)
	}
	cfg := config.Config{
		ServerURL:   serverURL,
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
