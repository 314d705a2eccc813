package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/control"
	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/protocol"
)

// ipcEnv overrides the local endpoint for every command, for tests and
// for a second agent on one machine.
const ipcEnv = "STEWARD_AGENT_IPC"

// ipcOwnerEnv names the account the endpoint's server must run as, for
// tests and a foreground agent: "current" (this process's account), a SID
// on Windows or a uid on Unix. Unset, it is LocalSystem or root, the
// agent service's account. It only loosens the check for the process it
// is set in, which only fools itself.
const ipcOwnerEnv = "STEWARD_AGENT_IPC_OWNER"

// Help requests per local account: helpBurst at once, then one each
// helpEvery (3 per 10 minutes).
const (
	helpBurst = 2
	helpEvery = 200 * time.Second
)

// healthStale is how old the control loop's proof of life may be before
// health says the agent is hung: well above the loop's longest wait
// without one (a dial, bounded by control.DefaultHandshakeTimeout).
const healthStale = 90 * time.Second

// ipcEndpoint is the default of the --ipc flag.
func ipcEndpoint() string {
	if e := os.Getenv(ipcEnv); e != "" {
		return e
	}
	return ipc.DefaultEndpoint()
}

// ipcOwner is the account the agent's endpoint must be served by: see
// ipcOwnerEnv.
func ipcOwner() (ipc.Owner, error) {
	switch v := os.Getenv(ipcOwnerEnv); {
	case v == "":
		return ipc.SystemOwner(), nil
	case v == "current":
		return ipc.CurrentOwner()
	case strings.HasPrefix(v, "S-"):
		return ipc.Owner{SID: v, UID: -1}, nil
	default:
		uid, err := strconv.Atoi(v)
		if err != nil || uid < 0 {
			return ipc.Owner{}, fmt.Errorf("%s=%q: want current, a SID or a uid", ipcOwnerEnv, v)
		}
		return ipc.Owner{UID: uid}, nil
	}
}

// dialLocal connects to the agent at endpoint, checking that the agent's
// account serves it (ipc.ErrImpostor otherwise).
func dialLocal(ctx context.Context, endpoint string) (*ipc.Client, error) {
	owner, err := ipcOwner()
	if err != nil {
		return nil, err
	}
	return ipc.Dial(ctx, endpoint, owner)
}

// helpRequestsPath is the file beside the config that keeps the help
// requests the server has not acknowledged.
func helpRequestsPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "help-requests.json")
}

// localAPI answers the local IPC methods from what `run` keeps. Its state
// and facts are copies set by run's goroutine.
type localAPI struct {
	agentID string
	started time.Time
	policy  *settings.Store
	log     *slog.Logger
	now     func() time.Time // time.Now; tests replace it
	// helpLimit bounds each local account's help requests, so that a
	// user (or a script) cannot flood the outbox and the dashboard.
	helpLimit *ipc.Limiter
	// ipcRetry is the first wait after a failed listen: ipcRetryMin;
	// tests shorten it.
	ipcRetry time.Duration
	// trays are the trays that told their versions, for the facts.
	trays *trayRegistry

	mu    sync.Mutex
	state config.State
	facts protocol.Facts
	power protocol.PowerState // what is pending; Action "" when nothing
}

func newLocalAPI(agentID string, policy *settings.Store, log *slog.Logger) *localAPI {
	return &localAPI{agentID: agentID, started: time.Now().UTC(), policy: policy, log: log, now: time.Now,
		helpLimit: &ipc.Limiter{Burst: helpBurst, Every: helpEvery}, trays: newTrayRegistry()}
}

// serverURL is the server the agent is connected to, or last tried.
func (a *localAPI) serverURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.ServerURL
}

// setPower records the pending power action, for the tray and the facts.
func (a *localAPI) setPower(p protocol.PowerState) {
	a.mu.Lock()
	a.power = p
	a.mu.Unlock()
}

func (a *localAPI) setState(s config.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state = s
}

// collected wraps the facts collector: it adds the live trays, and keeps
// the facts so that status shows those last sent to the server without
// collecting them again.
func (a *localAPI) collected(collect func(context.Context) (protocol.Facts, error)) func(context.Context) (protocol.Facts, error) {
	return func(ctx context.Context) (protocol.Facts, error) {
		f, err := collect(ctx)
		if err == nil {
			f.Trays = a.trays.list(a.now())
			a.mu.Lock()
			if a.power.Action != "" {
				p := a.power
				f.PowerPending = &p
			}
			a.facts = f
			a.mu.Unlock()
		}
		return f, err
	}
}

// Retries of a failed listen: the first after ipcRetryMin, doubling up
// to ipcRetryMax.
const (
	ipcRetryMin = time.Second
	ipcRetryMax = time.Minute
)

// serveIPC serves the local endpoint until the returned stop is called
// (run defers it) or ctx ends. When it cannot listen (another process
// holds the endpoint: a squatter, or an old agent still stopping) it logs
// an error and tries again with backoff, for as long as the agent runs:
// without IPC the tray and the watchdog cannot reach the agent, so the
// watchdog counts it unhealthy, which is right while it lasts.
func serveIPC(ctx context.Context, endpoint string, a *localAPI, client *control.Client) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		retry := a.ipcRetry
		if retry <= 0 {
			retry = ipcRetryMin
		}
		for attempt := 1; ; attempt++ {
			srv := a.newIPCServer(endpoint, client)
			served := make(chan struct{})
			var logged sync.WaitGroup
			logged.Go(func() {
				select {
				case <-srv.Ready():
					a.log.Info("local IPC listening", "endpoint", endpoint)
				case <-served:
				}
			})
			err := srv.Serve(ctx)
			close(served)
			logged.Wait()
			if ctx.Err() != nil {
				return
			}
			select {
			case <-srv.Ready():
				// It served, then stopped on its own: start over.
				attempt, retry = 1, a.ipcRetry
				if retry <= 0 {
					retry = ipcRetryMin
				}
			default:
			}
			a.log.Error("local IPC is not available; the tray, the watchdog and status cannot reach this agent",
				"endpoint", endpoint, "err", err, "attempt", attempt, "retry_in", retry)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			retry = min(2*retry, ipcRetryMax)
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// newIPCServer is a server for endpoint with the agent's methods.
func (a *localAPI) newIPCServer(endpoint string, client *control.Client) *ipc.Server {
	srv := ipc.NewServer(endpoint, a.log)
	srv.Handle(ipc.MethodStatus, ipc.RoleUser, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
		return a.status(), nil
	})
	srv.Handle(ipc.MethodTrayConfig, ipc.RoleUser, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
		return ipc.TrayConfigReply{Tray: a.tray()}, nil
	})
	srv.Handle(ipc.MethodHelpRequest, ipc.RoleUser, func(ctx context.Context, caller ipc.Caller, params json.RawMessage) (any, error) {
		return a.helpRequest(ctx, client, caller, params)
	})
	srv.Handle(ipc.MethodTrayHello, ipc.RoleUser, func(ctx context.Context, caller ipc.Caller, params json.RawMessage) (any, error) {
		return a.trayHello(ctx, client, caller, params)
	})
	srv.Handle(ipc.MethodHealth, ipc.RoleAdmin, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
		return a.health(client.Alive(), time.Now())
	})
	return srv
}

func (a *localAPI) status() ipc.StatusReply {
	a.mu.Lock()
	st, f, power := a.state, a.facts, a.power
	a.mu.Unlock()
	host := f.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	ips := f.IPAddresses
	if ips == nil {
		ips = []string{}
	}
	reply := ipc.StatusReply{
		AgentID: a.agentID, Hostname: host, IPAddresses: ips, Version: agent.Version, PID: os.Getpid(),
		Connected: st.Connected, Since: st.Since, ServerURL: st.ServerURL, LastError: st.LastError,
		PolicyRevision: st.PolicyRevision, PolicyAppliedAt: st.PolicyAppliedAt,
	}
	if power.Action != "" {
		reply.Power = &ipc.PowerNotice{Action: power.Action, At: power.At, Message: power.Message, By: power.By}
	}
	return reply
}

// tray is the "tray" section of the effective policy, {} without one.
func (a *localAPI) tray() json.RawMessage {
	var sections map[string]json.RawMessage
	if p := a.policy.Current().Policy; len(p) > 0 {
		if err := json.Unmarshal(p, &sections); err != nil {
			a.log.Warn("cannot read the effective policy for the tray", "err", err)
		}
	}
	if t, ok := sections["tray"]; ok && len(t) > 0 && t[0] == '{' {
		return t
	}
	return json.RawMessage(`{}`)
}

func (a *localAPI) helpRequest(ctx context.Context, client *control.Client, caller ipc.Caller, params json.RawMessage) (any, error) {
	var pol struct {
		HelpRequests *bool `json:"help_requests"`
	}
	json.Unmarshal(a.tray(), &pol) // tolerant: a malformed section keeps the default
	if pol.HelpRequests != nil && !*pol.HelpRequests {
		return nil, ipc.Errorf(ipc.CodeForbidden, "help requests are turned off by policy")
	}
	var args ipc.HelpRequestArgs
	if err := ipc.DecodeParams(params, &args); err != nil {
		return nil, err
	}
	key, now := caller.Key(), a.now()
	if ok, wait := a.helpLimit.Take(key, now); !ok {
		a.log.WarnContext(ctx, "help request refused: too many from this user", "user", caller.User, "caller_pid", caller.PID)
		return nil, ipc.Errorf(ipc.CodeRateLimited, "you have sent several help requests in the last few minutes; the next one can be sent in %s", wait.Round(time.Second))
	}
	h, err := client.RequestHelp(caller.User, args.Message)
	if err != nil {
		// Only a recorded request counts.
		a.helpLimit.Refund(key, now)
	}
	switch {
	case errors.Is(err, control.ErrInvalidHelpRequest):
		return nil, ipc.Errorf(ipc.CodeBadRequest, "%v", err)
	case errors.Is(err, control.ErrHelpQueueFull):
		return nil, ipc.Errorf(ipc.CodeBusy, "%v", err)
	case err != nil:
		return nil, err
	}
	a.log.InfoContext(ctx, "help request recorded", "id", h.ID, "user", h.User, "caller_pid", caller.PID)
	return ipc.HelpRequestReply{ID: h.ID}, nil
}

// trayHello records a tray's version; a change reaches the server at once.
func (a *localAPI) trayHello(ctx context.Context, client *control.Client, caller ipc.Caller, params json.RawMessage) (any, error) {
	args, err := ipc.DecodeTrayHello(params)
	if err != nil {
		return nil, err
	}
	changed, err := a.trays.hello(caller, args, a.now())
	if err != nil {
		return nil, err
	}
	if changed {
		a.log.InfoContext(ctx, "tray said hello", "user", caller.User, "session", args.Session, "version", args.Version, "caller_pid", caller.PID)
		client.CheckFacts()
	}
	return ipc.TrayHelloReply{}, nil
}

// health answers when the control loop proved itself alive recently;
// otherwise the agent is hung and the watchdog should restart it.
func (a *localAPI) health(alive, now time.Time) (any, error) {
	if age := now.Sub(alive); age > healthStale {
		return nil, ipc.Errorf(ipc.CodeUnhealthy, "the control loop last proved alive %s ago (limit %s)", age.Round(time.Second), healthStale)
	}
	a.mu.Lock()
	connected := a.state.Connected
	a.mu.Unlock()
	return ipc.HealthReply{PID: os.Getpid(), Version: agent.Version, Started: a.started,
		Connected: connected, ControlAlive: alive.UTC()}, nil
}

// ipcStatusLine says whether the agent answers at endpoint, for status.
func ipcStatusLine(ctx context.Context, endpoint string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := dialLocal(ctx, endpoint)
	if err == nil {
		defer c.Close()
		var st ipc.StatusReply
		if err = c.Call(ctx, ipc.MethodStatus, nil, &st); err == nil {
			return fmt.Sprintf("IPC:       listening at %s", endpoint)
		}
	}
	return fmt.Sprintf("IPC:       the agent does not answer at %s: %v", endpoint, err)
}
