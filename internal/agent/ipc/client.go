package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Client calls the agent over its endpoint. Calls on one Client are
// serialized; it is safe for concurrent use.
type Client struct {
	conn net.Conn

	mu  sync.Mutex
	seq uint64
	// broken is set once the connection can no longer be trusted (a
	// transport error, a frame out of step): every later call returns it.
	broken error
}

// Dial connects to the agent at endpoint (DefaultEndpoint on a real
// machine) and checks that the process serving it runs as owner
// (SystemOwner on a real machine): a process of another account is an
// impostor that took the endpoint while the agent was down, and Dial
// fails with ErrImpostor before anything is sent. It fails at once when
// nothing listens there.
func Dial(ctx context.Context, endpoint string, owner Owner) (*Client, error) {
	c, err := dial(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", endpoint, err)
	}
	if err := checkServer(c, owner); err != nil {
		c.Close()
		return nil, fmt.Errorf("ipc: dial %s: %w", endpoint, err)
	}
	return &Client{conn: c}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call sends method with req (nil for no params) and decodes the result
// into resp (nil to discard it). An error the agent answered with is a
// *RemoteError; errors.Is matches it against ErrForbidden and the other
// sentinels. ctx bounds the whole call; a call cut short breaks the
// connection (Dial again).
func (c *Client) Call(ctx context.Context, method string, req, resp any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	c.seq++
	id := strconv.FormatUint(c.seq, 10)
	r := Request{V: Version, ID: id, Method: method}
	if req != nil {
		p, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("ipc %s: encode params: %w", method, err)
		}
		r.Params = p
	}
	b, err := encode(r)
	if err != nil {
		return fmt.Errorf("ipc %s: %w", method, err)
	}

	deadline, _ := ctx.Deadline()
	c.conn.SetDeadline(deadline)
	// Cancellation interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	werr := WriteFrame(c.conn, b)
	// After a failed write, still read: a server that refused the
	// connection (busy) answered before closing it.
	rb, err := ReadFrame(c.conn)
	if err != nil {
		if werr != nil {
			err = werr
		}
		return c.fail(ctx, method, err)
	}
	res, err := DecodeResponse(rb)
	if err != nil {
		return c.fail(ctx, method, err)
	}
	switch {
	case res.ID == "" && res.Error != nil:
		// The server refused the connection or the frame (busy, bad
		// frame) and closes it.
		c.broken = res.Error
		c.conn.Close()
		return res.Error
	case werr != nil:
		return c.fail(ctx, method, werr)
	case res.ID != id:
		return c.fail(ctx, method, fmt.Errorf("answer to request %q, want %q", res.ID, id))
	case res.Error != nil:
		return res.Error
	}
	if resp != nil {
		if err := json.Unmarshal(res.Result, resp); err != nil {
			return fmt.Errorf("ipc %s: decode result: %w", method, err)
		}
	}
	return nil
}

// fail breaks the connection after a transport error.
func (c *Client) fail(ctx context.Context, method string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%v)", ctxErr, err)
	}
	err = fmt.Errorf("ipc %s: %w", method, err)
	c.broken = fmt.Errorf("ipc: connection broken by an earlier call: %w", err)
	c.conn.Close()
	return err
}
