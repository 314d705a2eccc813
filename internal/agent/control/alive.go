package control

import (
	"context"
	"time"
)

// DefaultAliveInterval is how often Run's goroutine proves it is alive
// while it waits (see Client.Alive).
const DefaultAliveInterval = 5 * time.Second

// Alive is when Run's goroutine last went round its loop: it does so at
// least every AliveInterval while waiting for the server or a reconnect,
// and at most HandshakeTimeout (plus collecting facts) apart while
// dialing. Much older than that, the agent is hung: a health check reads
// it.
func (c *Client) Alive() time.Time { return time.Unix(0, c.alive.Load()) }

func (c *Client) beat() { c.alive.Store(time.Now().UnixNano()) }

// sleep waits d or until ctx ends, proving the loop alive meanwhile. It
// reports whether d passed.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(c.opts.AliveInterval)
	defer tick.Stop()
	for {
		c.beat()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
		}
	}
}
