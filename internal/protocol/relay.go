package protocol

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Remote sessions. The server tells an agent over its control connection
// to open a session (CommandSessionOpen); the agent then dials its own
// WebSocket to RelayPath+session, authenticated with its agent credential
// and the session's single-use token (RelayTokenHeader). The server
// splices that socket to the browser's. Both sockets carry the frames
// below, one per binary WebSocket message.
const (
	// CommandSessionOpen asks the agent to open a session; args are
	// SessionOpen. The agent answers once it has started (or refused):
	// whatever went wrong after that reaches the browser as a close frame.
	CommandSessionOpen = "session_open"
	// RelayPath is the prefix of an agent's data connection; the session
	// ID follows.
	RelayPath = "/agent/v1/relay/"
	// RelayTokenHeader carries the session's single-use relay token.
	RelayTokenHeader = "Steward-Relay-Token"
)

// Session kinds.
const (
	SessionTerminal = "terminal"
)

// Bounds of a session.
const (
	// MaxFrameBytes bounds one relay frame (its type byte included); the
	// relay refuses larger WebSocket messages.
	MaxFrameBytes = 32<<10 + 1
	// MaxTermSize bounds a terminal's columns and rows.
	MaxTermSize = 1000
	// MaxCloseReason bounds a close frame's reason in bytes.
	MaxCloseReason = 256
)

// SessionOpen is the argument of CommandSessionOpen.
type SessionOpen struct {
	SessionID string `json:"session_id"`
	Kind      string `json:"kind"`
	// Path is the relay path to dial on the server the agent is connected
	// to (RelayPath + SessionID). A later version may name another
	// replica's URL here.
	Path string `json:"path"`
	// Token is the single-use token the relay wants in RelayTokenHeader.
	Token string `json:"token"`
	// Expires is when the relay stops waiting for the agent.
	Expires time.Time `json:"expires"`
	Cols    int       `json:"cols"`
	Rows    int       `json:"rows"`
}

// DecodeSessionOpen parses and validates CommandSessionOpen's arguments.
func DecodeSessionOpen(data json.RawMessage) (SessionOpen, error) {
	var o SessionOpen
	if err := strictUnmarshal(data, &o); err != nil {
		return SessionOpen{}, fmt.Errorf("decode session_open: %w", err)
	}
	if err := o.Validate(); err != nil {
		return SessionOpen{}, fmt.Errorf("decode session_open: %w", err)
	}
	return o, nil
}

// Validate checks a SessionOpen's fields.
func (o SessionOpen) Validate() error {
	switch {
	case o.SessionID == "" || o.Token == "":
		return errors.New("session_id and token are required")
	case o.Kind != SessionTerminal:
		return fmt.Errorf("kind %q is not supported", truncate(o.Kind))
	case o.Path != RelayPath+o.SessionID:
		return fmt.Errorf("path must be %s<session_id>", RelayPath)
	case o.Expires.IsZero():
		return errors.New("expires is required")
	case o.Cols < 1 || o.Cols > MaxTermSize || o.Rows < 1 || o.Rows > MaxTermSize:
		return fmt.Errorf("cols and rows must be 1 to %d", MaxTermSize)
	}
	if err := checkToken("session_id", o.SessionID, maxIDLen); err != nil {
		return err
	}
	if strings.ContainsAny(o.SessionID, "/?#%") {
		return errors.New("session_id contains invalid characters")
	}
	return checkToken("token", o.Token, maxTokenLen)
}

// Relay frame types: the first byte of every relay message.
const (
	// FrameData carries terminal bytes: keystrokes to the agent, output to
	// the browser.
	FrameData byte = 1
	// FrameResize carries the terminal's new size, browser to agent:
	// columns then rows, each a big-endian uint16.
	FrameResize byte = 2
	// FrameClose says why the sender ends the session (UTF-8 text), just
	// before it closes the socket.
	FrameClose byte = 3
)

// Frame is one decoded relay frame.
type Frame struct {
	Type byte
	// Data is FrameData's payload; it aliases the decoded message.
	Data []byte
	// Cols and Rows are FrameResize's size.
	Cols, Rows int
	// Reason is FrameClose's text.
	Reason string
}

// DataFrame returns a data frame for p.
func DataFrame(p []byte) []byte {
	return append([]byte{FrameData}, p...)
}

// ResizeFrame returns a resize frame.
func ResizeFrame(cols, rows int) []byte {
	b := []byte{FrameResize, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[1:], uint16(cols))
	binary.BigEndian.PutUint16(b[3:], uint16(rows))
	return b
}

// CloseFrame returns a close frame; a reason over MaxCloseReason bytes or
// not UTF-8 is cut to what is valid.
func CloseFrame(reason string) []byte {
	reason = strings.ToValidUTF8(reason, "?")
	for len(reason) > MaxCloseReason {
		_, n := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-n]
	}
	return append([]byte{FrameClose}, reason...)
}

// DecodeFrame parses one relay message from an untrusted peer.
func DecodeFrame(b []byte) (Frame, error) {
	if len(b) == 0 {
		return Frame{}, errors.New("relay frame: empty")
	}
	if len(b) > MaxFrameBytes {
		return Frame{}, fmt.Errorf("relay frame: %d bytes, limit %d", len(b), MaxFrameBytes)
	}
	f := Frame{Type: b[0]}
	body := b[1:]
	switch f.Type {
	case FrameData:
		f.Data = body
	case FrameResize:
		if len(body) != 4 {
			return Frame{}, fmt.Errorf("relay frame: resize is %d bytes, want 4", len(body))
		}
		f.Cols = int(binary.BigEndian.Uint16(body))
		f.Rows = int(binary.BigEndian.Uint16(body[2:]))
		if f.Cols < 1 || f.Cols > MaxTermSize || f.Rows < 1 || f.Rows > MaxTermSize {
			return Frame{}, fmt.Errorf("relay frame: size %dx%d out of 1..%d", f.Cols, f.Rows, MaxTermSize)
		}
	case FrameClose:
		if len(body) > MaxCloseReason || !utf8.Valid(body) {
			return Frame{}, fmt.Errorf("relay frame: close reason must be UTF-8 of at most %d bytes", MaxCloseReason)
		}
		f.Reason = string(body)
	default:
		return Frame{}, fmt.Errorf("relay frame: unknown type %d", f.Type)
	}
	return f, nil
}
