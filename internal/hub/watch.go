package hub

import (
	"context"
	"errors"
	"time"
)

// States of a connection between messages.
const (
	// connBusy: a goroutine owns the connection (opening, handling a
	// message, closing).
	connBusy int32 = iota
	// connArmed: idle, watched by the poller; whoever moves it back to
	// connBusy starts the goroutine that serves it.
	connArmed
)

// watch hands c, idle, to the poller, which starts a goroutine when the
// agent sends something, its deadline passes or it is kicked. Where there
// is no poller (not Linux, not a TCP socket), a goroutine of its own waits
// on the socket; being new, its stack is small.
func (h *Hub) watch(ctx context.Context, c *Conn) {
	if p := h.startPoller(); p != nil && len(c.link.early) == 0 {
		c.state.Store(connArmed)
		if err := p.arm(c); err == nil {
			// A kick, a failed write or a deadline that came before
			// arming found the connection busy and woke nobody.
			if c.link.deadline.Load() <= time.Now().UnixNano() {
				h.poke(ctx, c, false)
			}
			return
		}
		// A kick between the store above and the failed arm took the
		// connection (and may have closed it, failing the arm): it has
		// its owner, and a second would end it twice.
		if !c.state.CompareAndSwap(connArmed, connBusy) {
			return
		}
	}
	h.spawn(ctx, c, false)
}

// poke starts serving c if it is idle; ready says the agent sent data.
func (h *Hub) poke(ctx context.Context, c *Conn, ready bool) {
	if c.state.CompareAndSwap(connArmed, connBusy) {
		h.spawn(ctx, c, ready)
	}
}

func (h *Hub) spawn(ctx context.Context, c *Conn, ready bool) {
	// The connection's own count in serving keeps it above zero here, so
	// this Add never races Shutdown's Wait.
	h.serving.Add(1)
	go func() {
		defer h.serving.Done()
		h.step(ctx, c, ready)
	}()
}

// step serves the agent's next message and watches the connection again,
// or ends it on failure, silence or a kick.
func (h *Hub) step(ctx context.Context, c *Conn, ready bool) {
	var err error
	if ready {
		// Data came before the deadline; a busy machine may run this
		// goroutine after it, which must not count as silence. The new
		// deadline bounds the rest of the message.
		err = h.expect(c, h.OfflineAfter())
	}
	if err == nil {
		err = c.link.wait()
	}
	var data []byte
	if err == nil {
		data, err = c.link.next()
	}
	if err == nil {
		err = h.handle(ctx, c, data)
	}
	if err == nil {
		err = h.expect(c, h.OfflineAfter())
	}
	if err != nil {
		h.end(ctx, c, err)
		return
	}
	h.watch(ctx, c)
}

// startPoller starts the poller on first use; nil means there is none.
func (h *Hub) startPoller() *epoller {
	h.pollOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			if !errors.Is(err, errNotPollable) {
				h.log.Warn("no epoll for agent connections; one goroutine waits on each", "err", err)
			}
			return
		}
		h.poller = p
		h.pollDone = make(chan struct{})
		// Idle connections are checked for silence this often.
		tick := min(h.OfflineAfter()/8, time.Second)
		go func() {
			defer close(h.pollDone)
			err := p.run(func(c *Conn) { h.poke(h.base, c, true) }, func() {
				p.expired(time.Now().UnixNano(), func(c *Conn) { h.poke(h.base, c, false) })
			}, max(int(tick.Milliseconds()), 10))
			if err != nil {
				h.log.Error("agent socket poller stopped", "err", err)
			}
		}()
	})
	return h.poller
}

// stopPoller stops the poller after every connection ended.
func (h *Hub) stopPoller() {
	h.pollOnce.Do(func() {}) // none starts after this

	if h.poller != nil {
		h.poller.stop()
		<-h.pollDone
		h.poller.close()
	}
}
