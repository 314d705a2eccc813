// Package control keeps the agent's control connection: one WebSocket to the
// server's /agent/v1/connect, authenticated with the agent secret, carrying
// hello/welcome, heartbeats, facts updates, commands, the agent's
// effective policy and its metrics (see internal/protocol). Beside it, the
// client uploads the agent's inventory over HTTP to the server it is
// connected to (see Options.Inventory). It
// reconnects forever until its context is cancelled: a server given as
// several replica URLs is left for the next URL whenever a connection to it
// fails or ends, and only after every URL has failed in turn does the agent
// back off, exponentially with full jitter.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Defaults for the tunables in Options.
const (
	DefaultBackoffBase      = time.Second
	DefaultBackoffCap       = time.Minute
	DefaultResetAfter       = time.Minute
	DefaultReplacedDelay    = 30 * time.Second
	DefaultFailoverDelay    = time.Second
	DefaultFactsInterval    = 5 * time.Minute
	DefaultHeartbeat        = 30 * time.Second
	DefaultMinHeartbeat     = time.Second
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMetricsAckWait   = 30 * time.Second
)

// Outbox is a queue of metrics samples waiting for the server, oldest
// first (a metrics.Buffer). The client calls it from Run's goroutine only.
type Outbox interface {
	// Next returns up to max of the oldest samples as a batch, without
	// removing them, and an id naming the batch for Acked; ok is false
	// when there is nothing to send.
	Next(max int) (id string, batch protocol.MetricsBatch, ok bool)
	// Acked removes the batch Next returned as id.
	Acked(id string) error
	// Ready is signalled when samples are added.
	Ready() <-chan struct{}
}

// Options configure a Client. ServerURLs, AgentID, AgentSecret, Facts and
// Log are required; every duration left zero takes its Default.
type Options struct {
	// ServerURLs are the server's replicas, http(s)://host[:port][/prefix]
	// as in the config, tried in this order. One URL is fine.
	ServerURLs  []string
	AgentID     string
	AgentSecret string
	// Facts collects the host facts for hello and for change detection.
	Facts func(ctx context.Context) (protocol.Facts, error)
	Log   *slog.Logger
	// OnStatus, if set, is called from Run's goroutine whenever the
	// connection state or the last error changes. It must not block long.
	OnStatus func(Status)
	// OnPolicy, if set, applies an effective policy from the server (sent
	// in the welcome and whenever it changes). It is called from Run's
	// goroutine and must not block long. Returning nil acknowledges the
	// revision with a policy_ack; an error is logged and not acknowledged,
	// so the server shows the agent on its previous revision. nil accepts
	// every policy.
	OnPolicy func(ctx context.Context, p protocol.PolicyUpdate) error
	// PolicyRevision is the policy revision in force when Run starts, say
	// one saved by a previous run: the server resends the policy in every
	// welcome, and a revision already in force is acknowledged without
	// calling OnPolicy again.
	PolicyRevision string
	// Metrics, if set, holds the metrics samples to send. While connected
	// the agent sends them in batches, one at a time, and has the outbox
	// remove each batch once the server acknowledges it.
	Metrics Outbox
	// HTTPClient dials the WebSocket and uploads the inventory; nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Inventory, if set, collects the inventory report (an
	// inventory.Collect). The client then uploads one to the server it is
	// connected to after the process's first connection, every
	// inventory.interval of Policy, and for every protocol.CommandInventory,
	// on a goroutine of its own so the connection never waits for it.
	Inventory func(ctx context.Context, reason string) protocol.Inventory
	// Policy is the effective policy the inventory interval is read from,
	// followed live; nil means inventory.DefaultInterval.
	Policy PolicySource
	// AfterInventory, if set, is called on the inventory goroutine after
	// each report, uploaded or not, once what it allocated is garbage: the
	// agent returns that memory to the operating system there.
	AfterInventory func()
	// CommandsFile keeps the IDs of the commands taken (and their results
	// until sent), so that a restarted agent does not run a command the
	// server offers again; "" keeps them in memory (see ledger).
	CommandsFile string
	// HelpFile keeps the help requests (RequestHelp) until the server
	// acknowledges them; "" keeps them in memory.
	HelpFile string
	// Updates, if set, takes update offers; without it the agent answers
	// them as unsupported.
	Updates Updates
	// Scripts, if set, runs scripts (a script.Runner); without it the
	// agent answers script commands as unsupported.
	Scripts Scripts
	// Sessions, if set, serves remote sessions (a remote.Host); Run runs
	// it. Without it the agent answers session_open as unsupported.
	Sessions Sessions
	// Schedules, if set, holds the scheduled scripts' dues: they are sent
	// while connected and the server's answers handed back.
	Schedules Schedules
	// Actions, if set, runs the quick actions (an actions.Runner);
	// without it the agent answers them as unsupported.
	Actions Actions

	BackoffBase      time.Duration // first reconnect delay ceiling
	BackoffCap       time.Duration // largest reconnect delay
	ResetAfter       time.Duration // a connection up this long resets the backoff
	ReplacedDelay    time.Duration // least delay after protocol.CloseReplaced
	FailoverDelay    time.Duration // delay ceiling for moving to the next server (see Run)
	FactsInterval    time.Duration // how often facts are checked for changes
	DefaultHeartbeat time.Duration // used when welcome carries no interval
	MinHeartbeat     time.Duration // floor on the server's interval, against busy loops
	HandshakeTimeout time.Duration // dial plus waiting for welcome
	WriteTimeout     time.Duration // one message write
	MetricsAckWait   time.Duration // wait for a metrics_ack before sending the batch again
	AliveInterval    time.Duration // how often a waiting Run proves it is alive (see Alive)
	// MinInventoryInterval floors the policy's inventory interval.
	MinInventoryInterval time.Duration
	// Rand is backoff.Backoff.Rand; nil means math/rand/v2.
	Rand func(n int64) int64
}

// Status is the connection state reported to Options.OnStatus.
type Status struct {
	Connected bool
	Since     time.Time // when Connected last changed
	LastError string    // why the last connection attempt or connection ended
	ServerURL string    // the server connected to, or the one LastError is about
}

// Client maintains the control connection. Create it with New and call Run.
type Client struct {
	opts    Options
	servers []server // in the order of opts.ServerURLs
	auth    string   // Authorization header value

	// policyRev is the policy revision in force (see Options.OnPolicy).
	// Only Run's goroutine touches it; it outlives connections.
	policyRev string

	// inv reports the inventory; nil without Options.Inventory. Its
	// goroutine lives as long as Run.
	inv *inventoryWorker
	// ledger holds the commands taken and their results, across
	// connections.
	ledger *ledger
	// help holds the help requests until the server has them.
	help *helpOutbox
	// updates holds update reports until a connection takes them.
	updates *updateOutbox
	// scripts runs scripts; nil without Options.Scripts. Its goroutine
	// lives as long as Run.
	scripts *scriptWorker
	// actions runs quick actions; nil without Options.Actions. Its
	// goroutine lives as long as Run.
	actions *actionWorker
	// live holds the scripts' live messages for the connection up.
	live *liveOutbox
	// alive is Alive in Unix nanoseconds.
	alive atomic.Int64
	// current is the control URL of the connection up or last up: a
	// session's relay connection goes to the same server.
	current atomic.Pointer[string]
	// factsNow asks the connection to check the facts at once (see
	// CheckFacts); one pending ask is enough.
	factsNow chan struct{}
}

// server is one entry of Options.ServerURLs.
type server struct {
	base string // as given, for logs and Status
	url  string // ws(s)://.../agent/v1/connect
}

// New checks opts and fills in defaults.
func New(opts Options) (*Client, error) {
	if len(opts.ServerURLs) == 0 {
		return nil, errors.New("control: at least one server URL is required")
	}
	servers := make([]server, 0, len(opts.ServerURLs))
	for _, base := range opts.ServerURLs {
		u, err := connectURL(base)
		if err != nil {
			return nil, fmt.Errorf("control: %w", err)
		}
		servers = append(servers, server{base: base, url: u})
	}
	switch {
	case opts.AgentID == "" || opts.AgentSecret == "":
		return nil, errors.New("control: agent id and secret are required")
	case opts.Facts == nil:
		return nil, errors.New("control: Facts is required")
	case opts.Log == nil:
		return nil, errors.New("control: Log is required")
	}
	setDefault(&opts.BackoffBase, DefaultBackoffBase)
	setDefault(&opts.BackoffCap, DefaultBackoffCap)
	setDefault(&opts.ResetAfter, DefaultResetAfter)
	setDefault(&opts.ReplacedDelay, DefaultReplacedDelay)
	setDefault(&opts.FailoverDelay, DefaultFailoverDelay)
	setDefault(&opts.FactsInterval, DefaultFactsInterval)
	setDefault(&opts.DefaultHeartbeat, DefaultHeartbeat)
	setDefault(&opts.MinHeartbeat, DefaultMinHeartbeat)
	setDefault(&opts.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	setDefault(&opts.MetricsAckWait, DefaultMetricsAckWait)
	setDefault(&opts.MinInventoryInterval, DefaultMinInventoryInterval)
	setDefault(&opts.AliveInterval, DefaultAliveInterval)
	c := &Client{
		opts:      opts,
		servers:   servers,
		auth:      protocol.FormatCredential(opts.AgentID, opts.AgentSecret),
		policyRev: opts.PolicyRevision,
		ledger:    newLedger(opts.CommandsFile, opts.Log),
		help:      newHelpOutbox(opts.HelpFile, opts.Log),
		updates:   newUpdateOutbox(),
		live:      newLiveOutbox(),
		factsNow:  make(chan struct{}, 1),
	}
	c.beat()
	if opts.Inventory != nil {
		c.inv = newInventoryWorker(c)
	}
	if opts.Scripts != nil {
		c.scripts = newScriptWorker(c)
	}
	if opts.Actions != nil {
		c.actions = newActionWorker(c)
	}
	return c, nil
}

// CheckFacts has the connection check the facts now rather than at the
// next FactsInterval, and send them if they changed: something the agent
// learned (a tray's version) should reach the server without waiting
// minutes. Without a connection the next hello carries them anyway. It
// never blocks.
func (c *Client) CheckFacts() {
	select {
	case c.factsNow <- struct{}{}:
	default:
	}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// connectURL derives the control-channel URL from the server base URL:
// http→ws, https→wss, with protocol.ConnectPath appended.
func connectURL(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("server url: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server url %q: scheme must be http or https", serverURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server url %q: missing host", serverURL)
	}
	u.Path = strings.TrimRight(u.Path, "/") + protocol.ConnectPath
	u.RawPath = ""
	return u.String(), nil
}

// Run keeps the control connection up until ctx is cancelled, then closes it
// with a normal closure and returns nil. Failures are logged and retried;
// they never end Run.
//
// Whenever an attempt fails or a connection ends, Run moves on to the next
// server (wrapping around). Within a cycle through the servers it waits only
// a short delay drawn from [0, FailoverDelay), which spreads the agents of a
// replica that went away over the others instead of landing them all at
// once; once every server has failed in turn it waits the exponential
// backoff. The server a connection was lost from counts as the first failure
// of the next cycle, so a replica that welcomes and drops agents at once
// cannot make them spin. A connection that stayed up ResetAfter resets the
// backoff. protocol.CloseShutdown takes the short delay even at the end of a
// cycle, once per cycle: a replica stopping on purpose is no reason to wait.
func (c *Client) Run(ctx context.Context) error {
	if c.inv != nil {
		defer goUntilReturn(ctx, c.inv.run)()
	}
	if c.scripts != nil {
		defer goUntilReturn(ctx, c.scripts.run)()
	}
	if c.opts.Sessions != nil {
		defer goUntilReturn(ctx, c.opts.Sessions.Run)()
	}
	if c.actions != nil {
		defer goUntilReturn(ctx, c.actions.run)()
	}
	bo := backoff.Backoff{Base: c.opts.BackoffBase, Cap: c.opts.BackoffCap, Rand: c.opts.Rand}
	// Base equal to Cap: every delay is drawn from [0, FailoverDelay).
	quick := backoff.Backoff{Base: c.opts.FailoverDelay, Cap: c.opts.FailoverDelay, Rand: c.opts.Rand}
	rep := reporter{fn: c.opts.OnStatus}
	n := len(c.servers)
	cur := 0    // index of the server to dial next
	misses := 0 // failed attempts since the last backoff wait or healthy connection
	for {
		srv := c.servers[cur]
		up, err := c.connect(ctx, srv, &rep)
		if ctx.Err() != nil {
			return nil
		}
		if up >= c.opts.ResetAfter {
			bo.Reset()
			misses = 0
		}
		misses++
		cur = (cur + 1) % n

		var delay time.Duration
		code := websocket.CloseStatus(err)
		switch {
		case misses < n:
			delay = quick.Next()
		case code == protocol.CloseShutdown && misses == n:
			// The next server, or this one restarted, is likely up. Not
			// resetting misses makes the next failure back off, against a
			// server that shuts every connection down.
			delay = quick.Next()
		default:
			delay = bo.Next()
			misses = 0
		}
		if code == protocol.CloseReplaced {
			delay = max(delay, c.opts.ReplacedDelay)
		}
		rep.report(Status{LastError: err.Error(), ServerURL: srv.base})
		c.logFailure(ctx, err, srv.base, c.servers[cur].base, delay)
		if !c.sleep(ctx, delay) {
			return nil
		}
	}
}

// goUntilReturn runs f on a goroutine until the returned stop is called,
// which cancels f's context and waits for f to return.
func goUntilReturn(ctx context.Context, f func(context.Context)) (stop func()) {
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f(fctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// logFailure explains why a connection ended, at a level that matches what
// an operator should do about it.
func (c *Client) logFailure(ctx context.Context, err error, srv, next string, delay time.Duration) {
	log := c.opts.Log.With("server", srv)
	var rej *rejectedError
	switch code := websocket.CloseStatus(err); {
	case errors.As(err, &rej), code == protocol.CloseUnauthorized:
		log.ErrorContext(ctx, "server rejected the agent secret; if this agent was deleted on the server, re-enroll with `steward-agent install --force`",
			"err", err, "next_server", next, "retry_in", delay)
	case code == protocol.CloseReplaced:
		log.WarnContext(ctx, "another copy of this agent identity connected to the server and replaced this connection; is the same config in use on two machines?",
			"err", err, "next_server", next, "retry_in", delay)
	case code == protocol.CloseShutdown:
		log.InfoContext(ctx, "server is shutting down", "err", err, "next_server", next, "retry_in", delay)
	case code == protocol.CloseProtocol:
		log.ErrorContext(ctx, "server closed the connection for a protocol violation", "err", err, "next_server", next, "retry_in", delay)
	default:
		log.WarnContext(ctx, "control connection failed", "err", err, "next_server", next, "retry_in", delay)
	}
}

// rejectedError is an HTTP 401/403 answer to the WebSocket dial: the server
// does not accept this agent's credentials.
type rejectedError struct {
	status  int
	message string
}

func (e *rejectedError) Error() string {
	msg := fmt.Sprintf("agent secret rejected by server (HTTP %d)", e.status)
	if e.message != "" {
		msg += ": " + e.message
	}
	return msg
}

// connect dials srv once and serves the connection until it ends. up is how
// long the connection was established (since welcome); zero if it never was.
func (c *Client) connect(ctx context.Context, srv server, rep *reporter) (up time.Duration, err error) {
	hello, err := c.opts.Facts(ctx)
	if err == nil && c.opts.Updates != nil {
		hello.Update = c.opts.Updates.Pending()
	}
	if err != nil {
		return 0, fmt.Errorf("collect facts: %w", err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dialCtx, srv.url, &websocket.DialOptions{
		HTTPClient: c.opts.HTTPClient,
		HTTPHeader: http.Header{"Authorization": {c.auth}},
	})
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return 0, &rejectedError{status: resp.StatusCode, message: errorMessage(resp.Body)}
		}
		return 0, fmt.Errorf("connect: %w", err)
	}
	conn.SetReadLimit(protocol.MaxMessageBytes)
	c.current.Store(&srv.url)
	return c.serve(ctx, conn, srv.base, hello, rep)
}

// errorMessage reads protocol.ErrorResponse from a rejected dial's body.
func errorMessage(body io.Reader) string {
	if body == nil {
		return ""
	}
	var er protocol.ErrorResponse
	if json.NewDecoder(io.LimitReader(body, 1024)).Decode(&er) != nil {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, er.Error)
}

// reporter calls OnStatus only on change and keeps Since.
type reporter struct {
	fn   func(Status)
	last Status
	init bool
}

func (r *reporter) report(s Status) {
	if r.fn == nil {
		return
	}
	if r.init && r.last.Connected == s.Connected && r.last.LastError == s.LastError && r.last.ServerURL == s.ServerURL {
		return
	}
	s.Since = time.Now()
	if r.init && r.last.Connected == s.Connected {
		s.Since = r.last.Since
	}
	r.last, r.init = s, true
	r.fn(s)
}
