package hub

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/steward-rmm/steward/internal/protocol"
)

// closeWait bounds how long the server waits for the agent's answer to its
// close frame before dropping the connection.
const closeWait = 5 * time.Second

// writeTimeout bounds a write whose caller set no deadline.
const writeTimeout = 10 * time.Second

// errClosing refuses writes after the close frame went out.
var errClosing = errors.New("connection is closing")

// link is the server end of one agent's WebSocket. Frames are read from
// and written to the raw connection with github.com/gobwas/ws, without
// buffers, contexts, timers or goroutines of the link's own: an idle agent
// costs its socket, this struct and the small stack of the one goroutine
// blocked reading it. Frame and message buffers exist only while a message
// is being read or written.
type link struct {
	conn net.Conn
	// early holds bytes the agent sent behind the upgrade request that
	// net/http had already read; nil nearly always.
	early []byte
	// skip counts the unread payload bytes of a refused frame: they are
	// drained before waiting for the agent's close frame.
	skip int64
	// first holds the first bytes of the next frame header, read by wait;
	// held says how many of them next has yet to consume.
	first [2]byte
	held  int
	// deadline is the read deadline in unix nanoseconds, for the poller
	// (a socket deadline wakes only a goroutine blocked reading); 0 once
	// expired early by a kick or a failed write.
	deadline atomic.Int64

	wmu sync.Mutex
	// closeSent is set once a close frame went out: no frame may follow.
	closeSent bool
	// broken is set when a write failed, possibly mid-frame.
	broken bool
}

// peerClosed is the agent's own close frame.
type peerClosed struct {
	code   ws.StatusCode
	reason string
}

func (e peerClosed) Error() string {
	return fmt.Sprintf("agent closed the connection: status %d %q", e.code, e.reason)
}

// wait blocks until the agent starts its next frame. It is the only
// call an idle connection's goroutine makes, so it reads the first two
// header bytes into the link itself, on as shallow a stack as it can;
// next reads the rest.
func (l *link) wait() error {
	n := 0
	for n < len(l.first) {
		m, err := l.Read(l.first[n:])
		n += m
		if err != nil {
			return err
		}
	}
	l.held = n
	return nil
}

// Read reads the connection, starting with the header bytes wait read
// and any early bytes.
func (l *link) Read(p []byte) (int, error) {
	if l.held > 0 {
		n := copy(p, l.first[len(l.first)-l.held:])
		l.held -= n
		return n, nil
	}
	if len(l.early) > 0 {
		n := copy(p, l.early)
		l.early = l.early[n:]
		if len(l.early) == 0 {
			l.early = nil
		}
		return n, nil
	}
	return l.conn.Read(p)
}

// next returns the agent's next data message (after wait), answering pings and the
// agent's close frame on the way. A message larger than
// protocol.MaxMessageBytes or a frame breaking the protocol ends it with
// the closeCause to send. Only one goroutine may call next at a time.
func (l *link) next() ([]byte, error) {
	var msg []byte
	state := ws.StateServerSide
	for {
		h, err := ws.ReadHeader(l)
		if err != nil {
			return nil, err
		}
		if err := ws.CheckHeader(h, state); err != nil {
			l.skip = h.Length
			return nil, closeCause{ws.StatusProtocolError, err.Error()}
		}
		if h.OpCode.IsControl() {
			payload := make([]byte, h.Length) // at most 125 bytes: CheckHeader
			if _, err := io.ReadFull(l, payload); err != nil {
				return nil, err
			}
			ws.Cipher(payload, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				if err := l.writeFrame(ws.NewPongFrame(payload), time.Now().Add(writeTimeout)); err != nil {
					return nil, err
				}
			case ws.OpClose:
				return nil, l.peerClose(payload)
			}
			continue
		}
		if h.Length > int64(protocol.MaxMessageBytes-len(msg)) {
			l.skip = h.Length
			return nil, closeCause{ws.StatusMessageTooBig, fmt.Sprintf("message larger than %d bytes", protocol.MaxMessageBytes)}
		}
		start := len(msg)
		msg = slices.Grow(msg, int(h.Length))[:start+int(h.Length)]
		if _, err := io.ReadFull(l, msg[start:]); err != nil {
			return nil, err
		}
		ws.Cipher(msg[start:], h.Mask, 0)
		if h.Fin {
			return msg, nil
		}
		state = state.Set(ws.StateFragmented)
	}
}

// peerClose answers the agent's close frame, echoing its status code as
// RFC 6455 asks, or refusing an invalid one.
func (l *link) peerClose(payload []byte) error {
	code, reason := ws.ParseCloseFrameData(payload)
	reply := payload[:min(len(payload), 2)]
	if len(payload) == 1 || (len(payload) >= 2 && ws.CheckCloseFrameData(code, reason) != nil) {
		reply = ws.NewCloseFrameBody(ws.StatusProtocolError, "invalid close frame")
	}
	if len(payload) < 2 {
		code = ws.StatusNoStatusRcvd
	}
	// The agent is gone either way; a failed answer changes nothing.
	_ = l.writeFrame(ws.NewCloseFrame(reply), time.Now().Add(writeTimeout))
	return peerClosed{code, reason}
}

// write sends one text message, giving up at deadline (or after
// writeTimeout without one). Writes are safe from any goroutine.
func (l *link) write(msg []byte, deadline time.Time) error {
	if deadline.IsZero() {
		deadline = time.Now().Add(writeTimeout)
	}
	return l.writeFrame(ws.NewTextFrame(msg), deadline)
}

func (l *link) writeFrame(f ws.Frame, deadline time.Time) error {
	b, err := ws.CompileFrame(f)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.broken {
		return net.ErrClosed
	}
	if l.closeSent {
		return errClosing
	}
	if f.Header.OpCode == ws.OpClose {
		l.closeSent = true
	}
	if err := l.conn.SetWriteDeadline(deadline); err != nil {
		l.broken = true
		return err
	}
	if _, err := l.conn.Write(b); err != nil {
		// Part of a frame may have gone out: nothing can follow it. The
		// socket is closed by whoever serves the connection next.
		l.broken = true
		l.expire()
		return err
	}
	return nil
}

// expire moves the read deadline to the past, so that the connection is
// served (and, failing to read, ended) at once.
func (l *link) expire() {
	l.deadline.Store(0)
	l.conn.SetReadDeadline(time.Unix(1, 0))
}

// close ends the connection. With a closeCause it first sends the close
// frame and waits up to closeWait for the agent's answer, so the agent
// reads the code before the socket goes; otherwise the agent is gone or
// broken and the socket is closed at once.
func (l *link) close(err error) {
	var cc closeCause
	if errors.As(err, &cc) {
		if l.writeFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(cc.code, cc.reason)), time.Now().Add(writeTimeout)) == nil {
			l.awaitClose()
		}
	}
	l.conn.Close()
}

// awaitClose discards what the agent still sends until its close frame,
// the end of the stream, or closeWait.
func (l *link) awaitClose() {
	if err := l.conn.SetReadDeadline(time.Now().Add(closeWait)); err != nil {
		return
	}
	if l.skip > 0 {
		if _, err := io.CopyN(io.Discard, l, l.skip); err != nil {
			return
		}
		l.skip = 0
	}
	for {
		if _, err := l.next(); err != nil {
			return
		}
	}
}
