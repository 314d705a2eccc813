package hub

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// epoller tells the hub when an idle agent's socket has data, so that no
// goroutine waits on it: one epoll set holds every idle connection,
// registered one-shot (EPOLLONESHOT) and re-armed after each message. The
// descriptor is only touched inside the connection's SyscallConn.Control,
// which keeps Go from closing it meanwhile, so a closed and reused
// descriptor number can never be re-armed or removed by mistake.
type epoller struct {
	epfd int
	// wake is an eventfd in the set that interrupts the wait to stop.
	wake int

	mu    sync.Mutex
	conns map[int32]*Conn
}

// wakeKey marks the wake eventfd's events; descriptors are never negative.
const wakeKey = -1

func newPoller() (*epoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create epoll set: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("create eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeKey}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("watch eventfd: %w", err)
	}
	return &epoller{epfd: epfd, wake: wake, conns: map[int32]*Conn{}}, nil
}

// errNotPollable says a connection cannot be watched with epoll (not a
// plain TCP socket); its goroutine waits on it instead.
var errNotPollable = errors.New("connection is not a TCP socket")

// errForgotten says the connection ended while it was being armed.
var errForgotten = errors.New("connection already ended")

// arm reports c's next readable data (or hang-up) once to run's ready.
func (p *epoller) arm(c *Conn) error {
	tcp, ok := c.link.conn.(*net.TCPConn)
	if !ok {
		return errNotPollable
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return err
	}
	var ctlErr error
	err = rc.Control(func(fd uintptr) {
		key := int32(fd)
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: key}
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.forgotten {
			// Ended by an owner that took it while it was being armed:
			// an entry now would outlive the connection.
			ctlErr = errForgotten
			return
		}
		if p.conns[key] == c {
			ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
			return
		}
		if ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); ctlErr == nil {
			p.conns[key] = c
		}
	})
	if err != nil {
		return err
	}
	return ctlErr
}

// forget stops watching c for good. Call it before closing c's socket.
func (p *epoller) forget(c *Conn) {
	tcp, ok := c.link.conn.(*net.TCPConn)
	if !ok {
		return
	}
	p.mu.Lock()
	c.forgotten = true
	p.mu.Unlock()
	rc, err := tcp.SyscallConn()
	if err != nil {
		return
	}
	// A socket already closed left the set with its descriptor; its entry
	// may since belong to a newer connection, so only c's own is removed.
	rc.Control(func(fd uintptr) {
		key := int32(fd)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.conns[key] == c {
			delete(p.conns, key)
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		}
	})
}

// expired calls fn, under the set's lock, for every idle connection
// whose read deadline (unix nanoseconds) is at or before now.
func (p *epoller) expired(now int64, fn func(*Conn)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.state.Load() == connArmed && c.link.deadline.Load() <= now {
			fn(c)
		}
	}
}

// run waits for readable connections and hands each to ready, calling
// tick every tickMillis, until stop.
func (p *epoller) run(ready func(*Conn), tick func(), tickMillis int) error {
	events := make([]unix.EpollEvent, 256)
	every := time.Duration(tickMillis) * time.Millisecond
	next := time.Now().Add(every)
	for {
		n, err := unix.EpollWait(p.epfd, events, max(int(time.Until(next).Milliseconds()), 0))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for agent sockets: %w", err)
		}
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == wakeKey {
				return nil
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			// A stale event for a reused descriptor only wakes a newer
			// connection early: its goroutine then waits on the socket.
			if c != nil {
				ready(c)
			}
		}
		// Only on time: a busy fleet wakes the wait far more often, and
		// tick looks at every idle connection.
		if now := time.Now(); !now.Before(next) {
			tick()
			next = now.Add(every)
		}
	}
}

// stop ends run; close releases the set after run returned.
func (p *epoller) stop() {
	var one [8]byte
	one[0] = 1
	unix.Write(p.wake, one[:])
}

func (p *epoller) close() {
	unix.Close(p.wake)
	unix.Close(p.epfd)
}
