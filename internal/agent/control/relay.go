package control

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Sessions serves remote sessions (a remote.Host).
type Sessions interface {
	// Run serves the sessions opened until ctx ends.
	Run(ctx context.Context)
	// Open starts a session on a relay connection dial opens, or refuses
	// it at once.
	Open(open protocol.SessionOpen, dial func(ctx context.Context) (*websocket.Conn, error)) error
}

// openSession takes a session_open: the relay connection goes to the
// server the command came from, authenticated as this agent and with the
// session's token. Its result says whether the session started; what
// happens after reaches the browser through the relay.
func (c *Client) openSession(cmd protocol.Command) protocol.Result {
	fail := func(msg string) protocol.Result {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: msg}
	}
	open, err := protocol.DecodeSessionOpen(cmd.Args)
	if err != nil {
		return fail(err.Error())
	}
	if time.Now().After(open.Expires) {
		return fail("the session expired before it reached the agent")
	}
	base := c.current.Load()
	if base == nil {
		return fail("no server to dial")
	}
	url := strings.TrimSuffix(*base, protocol.ConnectPath) + open.Path
	header := http.Header{"Authorization": {c.auth}, protocol.RelayTokenHeader: {open.Token}}
	dial := func(ctx context.Context) (*websocket.Conn, error) {
		conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: c.opts.HTTPClient, HTTPHeader: header})
		return conn, err
	}
	if err := c.opts.Sessions.Open(open, dial); err != nil {
		return fail(err.Error())
	}
	c.opts.Log.Info("remote session opening", "session_id", open.SessionID, "kind", open.Kind)
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK}
}
