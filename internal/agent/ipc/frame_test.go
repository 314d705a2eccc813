package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// frame prefixes b with its length.
func frame(b []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	return append(out, b...)
}

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxFrameBytes)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{"ok", frame([]byte(`{}`)), []byte(`{}`), nil},
		{"at the limit", frame(big), big, nil},
		{"too long", binary.BigEndian.AppendUint32(nil, MaxFrameBytes+1), nil, ErrFrameTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, nil, ErrFrameTooLarge},
		{"empty", []byte{0, 0, 0, 0}, nil, ErrFrameEmpty},
		{"nothing", nil, nil, io.EOF},
		{"truncated header", []byte{0, 0}, nil, io.ErrUnexpectedEOF},
		{"truncated body", frame([]byte(`{"v":1}`))[:8], nil, io.ErrUnexpectedEOF},
		{"header only", binary.BigEndian.AppendUint32(nil, 10), nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadFrame error got %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("ReadFrame got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestReadFrameLeavesNextFrame(t *testing.T) {
	in := append(frame([]byte(`{"a":1}`)), frame([]byte(`{"b":2}`))...)
	r := bytes.NewReader(in)
	for _, want := range []string{`{"a":1}`, `{"b":2}`} {
		got, err := ReadFrame(r)
		if err != nil || string(got) != want {
			t.Fatalf("ReadFrame got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadFrame(r); !errors.Is(err, io.EOF) {
		t.Errorf("ReadFrame at the end got %v, want io.EOF", err)
	}
}

func TestWriteFrame(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.Bytes(), frame([]byte(`{"v":1}`)); !bytes.Equal(got, want) {
		t.Errorf("WriteFrame wrote %q, want %q", got, want)
	}
	if err := WriteFrame(&buf, make([]byte, MaxFrameBytes+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("WriteFrame(too large) got %v, want ErrFrameTooLarge", err)
	}
	if err := WriteFrame(&buf, nil); !errors.Is(err, ErrFrameEmpty) {
		t.Errorf("WriteFrame(empty) got %v, want ErrFrameEmpty", err)
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Request
		wantErr error // nil: any error when wantOK is false
		wantOK  bool
		wantID  string // the ID kept on error, for the answer
	}{
		{name: "ok", in: `{"v":1,"id":"1","method":"status"}`, want: Request{V: 1, ID: "1", Method: "status"}, wantOK: true},
		{name: "params", in: `{"v":1,"id":"x-2","method":"help_request","params":{"message":"hi"}}`,
			want: Request{V: 1, ID: "x-2", Method: "help_request", Params: json.RawMessage(`{"message":"hi"}`)}, wantOK: true},
		{name: "wrong version", in: `{"v":2,"id":"7","method":"status"}`, wantErr: ErrVersion, wantID: "7"},
		{name: "newer version with new fields", in: `{"v":2,"id":"7","method":"status","trace":"abc"}`, wantErr: ErrVersion, wantID: "7"},
		{name: "missing version", in: `{"id":"7","method":"status"}`, wantErr: ErrVersion, wantID: "7"},
		{name: "wrong version bad id", in: `{"v":0,"id":"a b"}`, wantErr: ErrVersion},
		{name: "trailing data", in: `{"v":1,"id":"1","method":"status"} {}`},
		{name: "trailing garbage", in: `{"v":1,"id":"1","method":"status"}x`},
		{name: "unknown field", in: `{"v":1,"id":"1","method":"status","admin":true}`},
		{name: "not an object", in: `[1,2]`},
		{name: "not json", in: `status please`},
		{name: "missing id", in: `{"v":1,"method":"status"}`},
		{name: "long id", in: `{"v":1,"id":"` + strings.Repeat("a", maxIDLen+1) + `","method":"status"}`},
		{name: "id with space", in: `{"v":1,"id":"a b","method":"status"}`},
		{name: "missing method", in: `{"v":1,"id":"1"}`, wantID: "1"},
		{name: "method with slash", in: `{"v":1,"id":"1","method":"../health"}`, wantID: "1"},
		{name: "upper-case method", in: `{"v":1,"id":"1","method":"Health"}`, wantID: "1"},
		{name: "long method", in: `{"v":1,"id":"1","method":"` + strings.Repeat("a", maxMethodLen+1) + `"}`, wantID: "1"},
		{name: "too large", in: `{"v":1,"id":"1","method":"status","params":"` + strings.Repeat("a", MaxFrameBytes) + `"}`, wantErr: ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.in))
			if tt.wantOK {
				if err != nil {
					t.Fatalf("DecodeRequest(%s): %v", tt.in, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("DecodeRequest(%s) (-want +got):\n%s", tt.in, diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeRequest(%s) got %+v, want an error", tt.in, got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("DecodeRequest(%s) error got %v, want %v", tt.in, err, tt.wantErr)
			}
			if got.ID != tt.wantID {
				t.Errorf("DecodeRequest(%s) kept ID %q, want %q", tt.in, got.ID, tt.wantID)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantOK bool
	}{
		{"result", `{"v":1,"id":"1","result":{"a":1}}`, true},
		{"null result", `{"v":1,"id":"1","result":null}`, true},
		{"error", `{"v":1,"id":"1","error":{"code":"forbidden","message":"no"}}`, true},
		{"error without id", `{"v":1,"id":"","error":{"code":"busy"}}`, true},
		{"both", `{"v":1,"id":"1","result":{},"error":{"code":"internal"}}`, false},
		{"neither", `{"v":1,"id":"1"}`, false},
		{"error without code", `{"v":1,"id":"1","error":{"message":"x"}}`, false},
		{"wrong version", `{"v":3,"id":"1","result":{}}`, false},
		{"trailing data", `{"v":1,"id":"1","result":{}}{}`, false},
		{"unknown field", `{"v":1,"id":"1","result":{},"extra":1}`, false},
		{"bad id", `{"v":1,"id":"\u0000","result":{}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeResponse([]byte(tt.in))
			if (err == nil) != tt.wantOK {
				t.Errorf("DecodeResponse(%s) error %v, want ok=%v", tt.in, err, tt.wantOK)
			}
		})
	}
}

func TestRemoteErrorIs(t *testing.T) {
	err := error(&RemoteError{Code: CodeForbidden, Message: "no"})
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("errors.Is(%v, ErrForbidden) = false", err)
	}
	if errors.Is(err, ErrBusy) {
		t.Errorf("errors.Is(%v, ErrBusy) = true", err)
	}
	if errors.Is(&RemoteError{Code: "future_code"}, ErrInternal) {
		t.Error("an unknown code matched ErrInternal")
	}
}

// FuzzDecodeRequest checks that no input panics the decoder, that what it
// accepts is valid, and that an accepted request survives a round trip.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"1","method":"status"}`,
		`{"v":1,"id":"2","method":"help_request","params":{"message":"printer"}}`,
		`{"v":2,"id":"3","method":"status","x":1}`,
		`{"v":1,"id":"1","method":"status"} {}`,
		`{"v":1,"id":"1","method":"status","params":null}`,
		`{"V":1,"ID":"1","Method":"status"}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if r.ID != "" && checkID(r.ID) != nil {
				t.Fatalf("DecodeRequest kept invalid ID %q on error", r.ID)
			}
			return
		}
		if r.V != Version || checkID(r.ID) != nil || checkMethod(r.Method) != nil {
			t.Fatalf("DecodeRequest accepted %+v", r)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := DecodeRequest(out)
		if err != nil {
			t.Fatalf("DecodeRequest(re-encoded %s): %v", out, err)
		}
		if r2.ID != r.ID || r2.Method != r.Method || !jsonEqual(r.Params, r2.Params) {
			t.Fatalf("round trip got %+v, want %+v", r2, r)
		}
	})
}

// FuzzDecodeResponse checks the client's decoder the same way.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"1","result":{"a":1}}`,
		`{"v":1,"id":"1","error":{"code":"forbidden","message":"no"}}`,
		`{"v":1,"id":"","error":{"code":"busy"}}`,
		`{"v":1,"id":"1"}`, `{}`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if r.V != Version || (r.Error == nil) == (r.Result == nil) || (r.Error != nil && r.Error.Code == "") {
			t.Fatalf("DecodeResponse accepted %+v", r)
		}
	})
}

// FuzzReadFrame feeds arbitrary streams to ReadFrame: it never returns
// more than MaxFrameBytes or an empty frame, and each frame is what the
// stream's length prefix announced.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame([]byte(`{"v":1,"id":"1","method":"status"}`)))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add(append(frame([]byte("ab")), 0, 0, 0, 3, 'x'))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			start := len(b) - r.Len()
			got, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(got) == 0 || len(got) > MaxFrameBytes {
				t.Fatalf("ReadFrame returned %d bytes", len(got))
			}
			if n := binary.BigEndian.Uint32(b[start:]); int(n) != len(got) || !bytes.Equal(got, b[start+4:start+4+len(got)]) {
				t.Fatalf("frame at %d: got %d bytes, prefix says %d", start, len(got), n)
			}
		}
	})
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}
