package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the message format version. A request of another version is
// answered with CodeVersion; the connection stays usable.
const Version = 1

// MaxFrameBytes bounds one message (the JSON after the length prefix).
const MaxFrameBytes = 64 << 10

// Bounds of the envelope's fields.
const (
	maxIDLen     = 64
	maxMethodLen = 64
)

// Frame errors. After one of them the stream is out of step: the
// connection is closed.
var (
	ErrFrameTooLarge = errors.New("ipc: frame too large")
	ErrFrameEmpty    = errors.New("ipc: empty frame")
)

// A frame is a 4-byte big-endian length N (1..MaxFrameBytes) followed by N
// bytes of JSON: a Request from client to server, a Response back.

// Request is one call.
type Request struct {
	V      int             `json:"v"`
	ID     string          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response answers the Request with the same ID: Result on success, Error
// otherwise. A frame the server cannot read is answered with an empty ID.
type Response struct {
	V      int             `json:"v"`
	ID     string          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *RemoteError    `json:"error,omitempty"`
}

// ReadFrame reads one frame's payload. A stream that ends between frames
// gives io.EOF; one that ends inside a frame gives io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	switch {
	case n == 0:
		return nil, ErrFrameEmpty
	case n > MaxFrameBytes:
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, MaxFrameBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// WriteFrame writes b as one frame, in a single write so that concurrent
// writers on other connections never interleave (and a pipe sees one
// message).
func WriteFrame(w io.Writer, b []byte) error {
	if len(b) == 0 {
		return ErrFrameEmpty
	}
	if len(b) > MaxFrameBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), MaxFrameBytes)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err := w.Write(buf)
	return err
}

// DecodeRequest parses one request frame. A request whose version is not
// Version gives an error matching ErrVersion, with its ID decoded so the
// answer can name it.
func DecodeRequest(b []byte) (Request, error) {
	// The version first and leniently: a newer client's request may carry
	// fields this agent does not know, and deserves CodeVersion, not
	// CodeBadRequest.
	var head struct {
		V  int    `json:"v"`
		ID string `json:"id"`
	}
	if len(b) > MaxFrameBytes {
		return Request{}, ErrFrameTooLarge
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Request{}, fmt.Errorf("decode request: %w", err)
	}
	if head.V != Version {
		var r Request
		if checkID(head.ID) == nil {
			r.ID = head.ID
		}
		return r, fmt.Errorf("decode request: %w: version %d, this agent speaks %d", ErrVersion, head.V, Version)
	}
	var r Request
	if err := decodeStrict(b, &r); err != nil {
		return Request{}, fmt.Errorf("decode request: %w", err)
	}
	if err := checkID(r.ID); err != nil {
		return Request{}, fmt.Errorf("decode request: %w", err)
	}
	if err := checkMethod(r.Method); err != nil {
		return Request{ID: r.ID}, fmt.Errorf("decode request: %w", err)
	}
	return r, nil
}

// DecodeResponse parses one response frame.
func DecodeResponse(b []byte) (Response, error) {
	var r Response
	if err := decodeStrict(b, &r); err != nil {
		return Response{}, fmt.Errorf("decode response: %w", err)
	}
	if r.V != Version {
		return Response{}, fmt.Errorf("decode response: %w: version %d, this client speaks %d", ErrVersion, r.V, Version)
	}
	if r.ID != "" {
		if err := checkID(r.ID); err != nil {
			return Response{}, fmt.Errorf("decode response: %w", err)
		}
	}
	switch {
	case r.Error != nil && r.Result != nil:
		return Response{}, errors.New("decode response: both result and error")
	case r.Error != nil && (r.Error.Code == "" || len(r.Error.Code) > maxMethodLen || len(r.Error.Message) > MaxFrameBytes):
		return Response{}, errors.New("decode response: error without a valid code")
	case r.Error == nil && r.Result == nil:
		return Response{}, errors.New("decode response: neither result nor error")
	}
	return r, nil
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields (a new field needs a new Version) and trailing data.
func decodeStrict(b []byte, v any) error {
	if len(b) > MaxFrameBytes {
		return ErrFrameTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the message")
	}
	return nil
}

// checkID accepts 1..maxIDLen printable ASCII characters without spaces.
func checkID(id string) error {
	if id == "" {
		return errors.New("id is required")
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("id is %d bytes, limit %d", len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= 0x20 || c >= 0x7f {
			return errors.New("id contains invalid characters")
		}
	}
	return nil
}

// checkMethod accepts 1..maxMethodLen of [a-z0-9_.].
func checkMethod(m string) error {
	if m == "" {
		return errors.New("method is required")
	}
	if len(m) > maxMethodLen {
		return fmt.Errorf("method is %d bytes, limit %d", len(m), maxMethodLen)
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return errors.New("method contains invalid characters")
		}
	}
	return nil
}

// encode marshals v as a frame payload within MaxFrameBytes.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFrameBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), MaxFrameBytes)
	}
	return b, nil
}
