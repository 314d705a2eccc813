package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of an agent's control connection after the upgrade.
// Control messages are small (a heartbeat is about 100 bytes); larger ones
// bypass the buffers. net/http hands a hijacked connection 4 KiB buffers
// each way, which would be most of an idle agent's memory.
const (
	controlReadBuffer  = 512
	controlWriteBuffer = 512
)

// leanHijacker gives the WebSocket library small buffers for the
// connection it takes over, and keeps the connection for read deadlines.
type leanHijacker struct {
	http.ResponseWriter
	conn net.Conn
}

var _ http.Hijacker = (*leanHijacker)(nil)

// Hijack takes the connection from net/http and wraps it in small
// buffers, keeping any bytes net/http had already read.
func (l *leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(l.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	l.conn = conn
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, controlReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		// The agent may have sent its hello right behind the handshake.
		// Those bytes must sit in the new reader's buffer, not behind it:
		// the WebSocket library takes over exactly what is buffered.
		early, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(n, controlReadBuffer))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, controlWriteBuffer)), nil
}
