// Package control keeps the agent's control connection: one WebSocket to the
// server's /agent/v1/connect, authenticated with the agent secret, carrying
// hello/welcome, heartbeats and facts updates (see internal/protocol). It
// reconnects forever with exponential backoff and full jitter until its
// context is cancelled.
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
	DefaultFactsInterval    = 5 * time.Minute
	DefaultHeartbeat        = 30 * time.Second
	DefaultMinHeartbeat     = time.Second
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
)

// Options configure a Client. ServerURL, AgentID, AgentSecret, Facts and Log
// are required; every duration left zero takes its Default.
type Options struct {
	ServerURL   string // http(s)://host[:port][/prefix], as in the config
	AgentID     string
	AgentSecret string
	// Facts collects the host facts for hello and for change detection.
	Facts func(ctx context.Context) (protocol.Facts, error)
	Log   *slog.Logger
	// OnStatus, if set, is called from Run's goroutine whenever the
	// connection state or the last error changes. It must not block long.
	OnStatus func(Status)
	// HTTPClient dials the WebSocket; nil means http.DefaultClient.
	HTTPClient *http.Client

	BackoffBase      time.Duration // first reconnect delay ceiling
	BackoffCap       time.Duration // largest reconnect delay
	ResetAfter       time.Duration // a connection up this long resets the backoff
	ReplacedDelay    time.Duration // least delay after protocol.CloseReplaced
	FactsInterval    time.Duration // how often facts are checked for changes
	DefaultHeartbeat time.Duration // used when welcome carries no interval
	MinHeartbeat     time.Duration // floor on the server's interval, against busy loops
	HandshakeTimeout time.Duration // dial plus waiting for welcome
	WriteTimeout     time.Duration // one message write
	// Rand is backoff.Backoff.Rand; nil means math/rand/v2.
	Rand func(n int64) int64
}

// Status is the connection state reported to Options.OnStatus.
type Status struct {
	Connected bool
	Since     time.Time // when Connected last changed
	LastError string    // why the last connection attempt or connection ended
}

// Client maintains the control connection. Create it with New and call Run.
type Client struct {
	opts Options
	url  string // ws(s)://.../agent/v1/connect
	auth string // Authorization header value
}

// New checks opts and fills in defaults.
func New(opts Options) (*Client, error) {
	u, err := connectURL(opts.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
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
	setDefault(&opts.FactsInterval, DefaultFactsInterval)
	setDefault(&opts.DefaultHeartbeat, DefaultHeartbeat)
	setDefault(&opts.MinHeartbeat, DefaultMinHeartbeat)
	setDefault(&opts.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	return &Client{
		opts: opts,
		url:  u,
		auth: protocol.FormatCredential(opts.AgentID, opts.AgentSecret),
	}, nil
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
func (c *Client) Run(ctx context.Context) error {
	bo := backoff.Backoff{Base: c.opts.BackoffBase, Cap: c.opts.BackoffCap, Rand: c.opts.Rand}
	rep := reporter{fn: c.opts.OnStatus}
	for {
		up, err := c.connect(ctx, &rep)
		if ctx.Err() != nil {
			return nil
		}
		if up >= c.opts.ResetAfter {
			bo.Reset()
		}
		delay := bo.Next()
		rep.report(Status{LastError: err.Error()})
		c.logFailure(ctx, err, &delay)

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// logFailure explains why a connection ended, at a level that matches what
// an operator should do about it, and stretches delay where the cause calls
// for it.
func (c *Client) logFailure(ctx context.Context, err error, delay *time.Duration) {
	var rej *rejectedError
	switch code := websocket.CloseStatus(err); {
	case errors.As(err, &rej), code == protocol.CloseUnauthorized:
		c.opts.Log.ErrorContext(ctx, "server rejected the agent secret; if this agent was deleted on the server, re-enroll with `steward-agent install --force`",
			"err", err, "retry_in", *delay)
	case code == protocol.CloseReplaced:
		*delay = max(*delay, c.opts.ReplacedDelay)
		c.opts.Log.WarnContext(ctx, "another copy of this agent identity connected to the server and replaced this connection; is the same config in use on two machines?",
			"retry_in", *delay)
	case code == protocol.CloseShutdown:
		c.opts.Log.InfoContext(ctx, "server is shutting down", "retry_in", *delay)
	case code == protocol.CloseProtocol:
		c.opts.Log.ErrorContext(ctx, "server closed the connection for a protocol violation", "err", err, "retry_in", *delay)
	default:
		c.opts.Log.WarnContext(ctx, "control connection failed", "err", err, "retry_in", *delay)
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

// connect dials once and serves the connection until it ends. up is how
// long the connection was established (since welcome); zero if it never was.
func (c *Client) connect(ctx context.Context, rep *reporter) (up time.Duration, err error) {
	hello, err := c.opts.Facts(ctx)
	if err != nil {
		return 0, fmt.Errorf("collect facts: %w", err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dialCtx, c.url, &websocket.DialOptions{
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
	return c.serve(ctx, conn, hello, rep)
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
	if r.init && r.last.Connected == s.Connected && r.last.LastError == s.LastError {
		return
	}
	s.Since = time.Now()
	if r.init && r.last.Connected == s.Connected {
		s.Since = r.last.Since
	}
	r.last, r.init = s, true
	r.fn(s)
}
