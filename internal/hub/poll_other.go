//go:build !linux

package hub

import "errors"

// epoller is Linux-only; elsewhere each idle connection's goroutine waits
// on its socket.
type epoller struct{}

var errNotPollable = errors.New("no socket readiness notification on this system")

func newPoller() (*epoller, error)                    { return nil, errNotPollable }
func (p *epoller) arm(*Conn) error                    { return errNotPollable }
func (p *epoller) forget(*Conn)                       {}
func (p *epoller) expired(int64, func(*Conn))         {}
func (p *epoller) run(func(*Conn), func(), int) error { return nil }
func (p *epoller) stop()                              {}
func (p *epoller) close()                             {}
