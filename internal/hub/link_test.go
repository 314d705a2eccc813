package hub

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/steward-rmm/steward/internal/protocol"
)

// clientFrame encodes a frame as an agent sends it: masked.
func clientFrame(t testing.TB, op ws.OpCode, fin bool, payload []byte) []byte {
	t.Helper()
	b, err := ws.CompileFrame(ws.MaskFrame(ws.NewFrame(op, fin, payload)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func closeBody(code ws.StatusCode, reason string) []byte { return ws.NewCloseFrameBody(code, reason) }

// pipeLink returns a link over one end of a pipe and the agent's end.
// Everything the agent sends is written from a goroutine, since a pipe
// blocks writers until the other side reads.
func pipeLink(t *testing.T, early []byte, send ...[]byte) (*link, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	deadline := time.Now().Add(10 * time.Second)
	server.SetDeadline(deadline)
	client.SetDeadline(deadline)
	go func() {
		for _, b := range send {
			if _, err := client.Write(b); err != nil {
				return
			}
		}
	}()
	return &link{conn: server, early: early}, client
}

// readServerFrame reads one frame the server sent, which must be unmasked.
func readServerFrame(t *testing.T, c net.Conn) ws.Frame {
	t.Helper()
	h, err := ws.ReadHeader(c)
	if err != nil {
		t.Fatalf("read server frame: %v", err)
	}
	if h.Masked {
		t.Fatal("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatalf("read server frame payload: %v", err)
	}
	return ws.Frame{Header: h, Payload: p}
}

func readMessage(t *testing.T, l *link) ([]byte, error) {
	t.Helper()
	if err := l.wait(); err != nil {
		return nil, err
	}
	return l.next()
}

func TestLinkFragmentsAndPing(t *testing.T) {
	l, client := pipeLink(t, nil,
		clientFrame(t, ws.OpText, false, []byte(`{"type":`)),
		clientFrame(t, ws.OpPing, true, []byte("are you there")),
		clientFrame(t, ws.OpContinuation, false, []byte(`"heart`)),
		clientFrame(t, ws.OpContinuation, true, []byte(`beat"}`)),
	)
	got := make(chan []byte, 1)
	go func() {
		msg, err := readMessage(t, l)
		if err != nil {
			t.Errorf("next: %v", err)
		}
		got <- msg
	}()
	pong := readServerFrame(t, client)
	if pong.Header.OpCode != ws.OpPong || string(pong.Payload) != "are you there" {
		t.Errorf("answer to ping = op %d %q, want pong %q", pong.Header.OpCode, pong.Payload, "are you there")
	}
	if msg := <-got; string(msg) != `{"type":"heartbeat"}` {
		t.Errorf("message = %q, want the three fragments joined", msg)
	}
}

func TestLinkEarlyBytes(t *testing.T) {
	frame := clientFrame(t, ws.OpText, true, []byte("hello"))
	// The first three bytes arrived with the upgrade request.
	l, _ := pipeLink(t, bytes.Clone(frame[:3]), frame[3:])
	msg, err := readMessage(t, l)
	if err != nil || string(msg) != "hello" {
		t.Errorf("next = %q, %v; want hello", msg, err)
	}
}

func TestLinkAgentCloses(t *testing.T) {
	tests := []struct {
		name      string
		payload   []byte
		wantCode  ws.StatusCode
		wantReply ws.StatusCode // 0: an empty close frame
	}{
		{"with a code", closeBody(protocol.CloseReplaced, "bye"), protocol.CloseReplaced, protocol.CloseReplaced},
		{"without a code", nil, ws.StatusNoStatusRcvd, 0},
		{"with a reserved code", closeBody(ws.StatusAbnormalClosure, ""), ws.StatusAbnormalClosure, ws.StatusProtocolError},
		{"with a one-byte body", []byte{3}, ws.StatusNoStatusRcvd, ws.StatusProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, client := pipeLink(t, nil, clientFrame(t, ws.OpClose, true, tt.payload))
			errc := make(chan error, 1)
			go func() {
				_, err := readMessage(t, l)
				errc <- err
			}()
			reply := readServerFrame(t, client)
			code, _ := ws.ParseCloseFrameData(reply.Payload)
			if reply.Header.OpCode != ws.OpClose || code != tt.wantReply {
				t.Errorf("reply = op %d code %d, want close with code %d", reply.Header.OpCode, code, tt.wantReply)
			}
			var pc peerClosed
			if err := <-errc; !errors.As(err, &pc) || pc.code != tt.wantCode {
				t.Errorf("next error = %v, want the agent's close with code %d", err, tt.wantCode)
			}
			if err := l.write([]byte("late"), time.Time{}); !errors.Is(err, errClosing) {
				t.Errorf("write after the close frame = %v, want errClosing", err)
			}
		})
	}
}

func TestLinkRefuses(t *testing.T) {
	big := bytes.Repeat([]byte("x"), protocol.MaxMessageBytes)
	unmasked, _ := ws.CompileFrame(ws.NewTextFrame([]byte("hi")))
	tests := []struct {
		name string
		send [][]byte
		want ws.StatusCode
	}{
		{"unmasked frame", [][]byte{unmasked}, ws.StatusProtocolError},
		{"continuation without a start", [][]byte{clientFrame(t, ws.OpContinuation, true, []byte("x"))}, ws.StatusProtocolError},
		{"fragmented ping", [][]byte{clientFrame(t, ws.OpPing, false, nil)}, ws.StatusProtocolError},
		{"oversized frame", [][]byte{clientFrame(t, ws.OpText, true, append(big, 'x'))}, ws.StatusMessageTooBig},
		{"oversized message in fragments", [][]byte{
			clientFrame(t, ws.OpText, false, big[:1000]),
			clientFrame(t, ws.OpContinuation, true, big[999:]),
		}, ws.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, client := pipeLink(t, nil, tt.send...)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err := readMessage(t, l)
				var cc closeCause
				if !errors.As(err, &cc) || cc.code != tt.want {
					t.Errorf("next error = %v, want a close with code %d", err, tt.want)
				}
				// The agent's rest of the frame is drained and its close
				// frame awaited, so it reads the code before the socket goes.
				l.close(err)
			}()
			reply := readServerFrame(t, client)
			if code, _ := ws.ParseCloseFrameData(reply.Payload); reply.Header.OpCode != ws.OpClose || code != tt.want {
				t.Errorf("server sent op %d code %d, want close %d", reply.Header.OpCode, code, tt.want)
			}
			if _, err := client.Write(clientFrame(t, ws.OpClose, true, reply.Payload[:2])); err != nil {
				t.Errorf("agent's close answer not read: %v", err)
			}
			<-done
		})
	}
}

func TestLinkLargestMessage(t *testing.T) {
	msg := []byte(strings.Repeat("y", protocol.MaxMessageBytes))
	l, _ := pipeLink(t, nil, clientFrame(t, ws.OpBinary, true, msg))
	got, err := readMessage(t, l)
	if err != nil || !bytes.Equal(got, msg) {
		t.Errorf("next = %d bytes, %v; want the %d-byte message", len(got), err, len(msg))
	}
}

// streamConn is a connection whose reads come from a byte stream and
// whose writes vanish.
type streamConn struct {
	net.Conn
	r io.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzLinkNext feeds arbitrary bytes from an agent to the frame reader:
// it must never panic or return a message over the limit.
func FuzzLinkNext(f *testing.F) {
	f.Add(clientFrame(f, ws.OpText, true, []byte(`{"type":"heartbeat"}`)))
	f.Add(append(clientFrame(f, ws.OpText, false, []byte("a")), clientFrame(f, ws.OpContinuation, true, []byte("b"))...))
	f.Add(clientFrame(f, ws.OpPing, true, []byte("p")))
	f.Add(clientFrame(f, ws.OpClose, true, closeBody(ws.StatusNormalClosure, "")))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &link{conn: &streamConn{r: bytes.NewReader(data)}}
		for range 100 {
			msg, err := readMessage(t, l)
			if err != nil {
				l.close(err)
				return
			}
			if len(msg) > protocol.MaxMessageBytes {
				t.Fatalf("message of %d bytes, over the %d-byte limit", len(msg), protocol.MaxMessageBytes)
			}
		}
	})
}
