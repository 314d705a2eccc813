package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
)

// Exit codes of status, chosen after the LSB convention for init scripts
// (3 = not running) so scripts and monitoring can branch on them.
const (
	statusConnected    = 0 // enrolled, running, connected to the server
	statusDisconnected = 1 // enrolled and running, but not connected (retrying)
	statusNotRunning   = 3 // enrolled, agent not running
	statusNotEnrolled  = 4 // no valid config (missing, unreadable or invalid)
)

const statusHelp = `Usage: steward-agent status [--config PATH]

Shows the state of the agent and watchdog services, whether this machine
is enrolled (with which server URLs), whether the agent is running and
connected, and to which server, whether it answers on its local IPC
endpoint, and the revision of the policy it runs. Run it as root
(Administrator on Windows): the config and state files are readable by
root/SYSTEM only.

Exit codes:
  0  enrolled, running and connected
  1  enrolled and running, but not connected to the server (retrying)
  2  usage error
  3  enrolled, but the agent is not running
  4  not enrolled: config missing, unreadable or invalid
`

func status(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path := newFlagSet("status", statusHelp, stderr)
	ipcPath := fl.String("ipc", ipcEndpoint(), "local IPC endpoint of the agent (env "+ipcEnv+")")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	fmt.Fprintf(stdout, "Config:    %s\n", *path)
	printServices(ctx, service.New(service.Options{}), stdout)
	cfg, err := config.Load(*path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintln(stdout, "Enrolled:  no (run steward-agent install)")
		return statusNotEnrolled
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(stdout, "Enrolled:  unknown: %v (run as root or Administrator)\n", err)
		return statusNotEnrolled
	case err != nil:
		fmt.Fprintf(stdout, "Enrolled:  no, config is invalid: %v\n", err)
		return statusNotEnrolled
	}
	fmt.Fprintf(stdout, "Enrolled:  yes, agent %s with %s\n", cfg.AgentID, strings.Join(cfg.Servers(), ", "))

	st, err := config.LoadState(config.StatePath(*path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintln(stdout, "Agent:     not running")
		return statusNotRunning
	case err != nil:
		fmt.Fprintf(stdout, "Agent:     unknown: %v\n", err)
		return statusNotRunning
	case !pidAlive(ctx, st.PID):
		fmt.Fprintf(stdout, "Agent:     not running (stale state from pid %d)\n", st.PID)
		return statusNotRunning
	}
	fmt.Fprintf(stdout, "Agent:     running (pid %d)\n", st.PID)
	fmt.Fprintln(stdout, ipcStatusLine(ctx, *ipcPath))
	if st.PolicyRevision != "" {
		fmt.Fprintf(stdout, "Policy:    revision %s (applied %s)\n", st.PolicyRevision, st.PolicyAppliedAt.Local().Format(time.RFC3339))
	} else {
		fmt.Fprintln(stdout, "Policy:    none received yet")
	}
	since := st.Since.Local().Format(time.RFC3339)
	if st.Connected {
		to := ""
		if st.ServerURL != "" {
			to = " to " + st.ServerURL + ","
		}
		fmt.Fprintf(stdout, "Connected: yes,%s since %s\n", to, since)
		return statusConnected
	}
	fmt.Fprintf(stdout, "Connected: no, since %s\n", since)
	if st.LastError != "" {
		if st.ServerURL != "" {
			fmt.Fprintf(stdout, "Last error: %s: %s\n", st.ServerURL, st.LastError)
		} else {
			fmt.Fprintf(stdout, "Last error: %s\n", st.LastError)
		}
	}
	return statusDisconnected
}

// printServices prints each role's service as the service manager sees it.
// Exit codes stay about the agent itself: a machine without a service
// manager runs it under the watchdog.
func printServices(ctx context.Context, m *service.Manager, stdout io.Writer) {
	if err := m.Available(); err != nil {
		fmt.Fprintf(stdout, "Services:  none (%v)\n", err)
		return
	}
	for _, r := range service.Roles() {
		st, err := m.Query(ctx, r)
		if err != nil {
			fmt.Fprintf(stdout, "Service:   %s: unknown: %v\n", r, err)
			continue
		}
		fmt.Fprintf(stdout, "Service:   %s: %s\n", r, st)
	}
}
