package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Frame
		wantErr string
	}{
		{"data", DataFrame([]byte("ls\r")), Frame{Type: FrameData, Data: []byte("ls\r")}, ""},
		{"empty data", DataFrame(nil), Frame{Type: FrameData, Data: []byte{}}, ""},
		{"resize", ResizeFrame(120, 40), Frame{Type: FrameResize, Cols: 120, Rows: 40}, ""},
		{"close", CloseFrame("shell exited"), Frame{Type: FrameClose, Reason: "shell exited"}, ""},
		{"empty", nil, Frame{}, "empty"},
		{"unknown type", []byte{9, 1}, Frame{}, "unknown type 9"},
		{"short resize", []byte{FrameResize, 0, 80}, Frame{}, "resize is 2 bytes"},
		{"zero size", ResizeFrame(0, 24), Frame{}, "out of"},
		{"huge size", ResizeFrame(80, 1001), Frame{}, "out of"},
		{"bad utf-8 reason", []byte{FrameClose, 0xff}, Frame{}, "UTF-8"},
		{"long reason", append([]byte{FrameClose}, strings.Repeat("a", MaxCloseReason+1)...), Frame{}, "at most"},
		{"too large", make([]byte, MaxFrameBytes+1), Frame{}, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFrame(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeFrame(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeFrame(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeFrame(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestCloseFrameCutsReason(t *testing.T) {
	long := strings.Repeat("é", MaxCloseReason) // two bytes each
	f, err := DecodeFrame(CloseFrame(long + "\xff"))
	if err != nil {
		t.Fatalf("DecodeFrame(CloseFrame(long)): %v", err)
	}
	if len(f.Reason) > MaxCloseReason || !utf8.ValidString(f.Reason) || !strings.HasPrefix(long, f.Reason) {
		t.Errorf("reason cut to %d bytes %q, want a valid prefix of at most %d", len(f.Reason), f.Reason, MaxCloseReason)
	}
}

func TestDecodeSessionOpen(t *testing.T) {
	valid := SessionOpen{SessionID: "s1", Kind: SessionTerminal, Path: RelayPath + "s1", Token: "tok",
		Expires: time.Date(2026, 12, 4, 0, 0, 30, 0, time.UTC), Cols: 80, Rows: 24}
	tests := []struct {
		name    string
		change  func(*SessionOpen)
		wantErr string
	}{
		{"valid", func(*SessionOpen) {}, ""},
		{"no token", func(o *SessionOpen) { o.Token = "" }, "required"},
		{"files not yet", func(o *SessionOpen) { o.Kind = "files" }, "not supported"},
		{"other path", func(o *SessionOpen) { o.Path = "/agent/v1/connect" }, "path"},
		{"no expiry", func(o *SessionOpen) { o.Expires = time.Time{} }, "expires"},
		{"no size", func(o *SessionOpen) { o.Cols = 0 }, "cols"},
		{"slash in id", func(o *SessionOpen) { o.SessionID = "a/b"; o.Path = RelayPath + "a/b" }, "invalid"},
		{"space in token", func(o *SessionOpen) { o.Token = "a b" }, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.change(&o)
			b, _ := json.Marshal(o)
			got, err := DecodeSessionOpen(b)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeSessionOpen error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeSessionOpen: %v", err)
			}
			if diff := cmp.Diff(o, got); diff != "" {
				t.Errorf("DecodeSessionOpen (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range [][]byte{DataFrame([]byte("echo hi\r")), ResizeFrame(80, 24), CloseFrame("bye"), {}, {FrameResize}, {7}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		var again []byte
		switch fr.Type {
		case FrameData:
			again = DataFrame(fr.Data)
		case FrameResize:
			if fr.Cols < 1 || fr.Cols > MaxTermSize || fr.Rows < 1 || fr.Rows > MaxTermSize {
				t.Fatalf("accepted size %dx%d", fr.Cols, fr.Rows)
			}
			again = ResizeFrame(fr.Cols, fr.Rows)
		case FrameClose:
			if len(fr.Reason) > MaxCloseReason || !utf8.ValidString(fr.Reason) {
				t.Fatalf("accepted reason %q", fr.Reason)
			}
			again = CloseFrame(fr.Reason)
		default:
			t.Fatalf("accepted type %d", fr.Type)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("frame %x encodes again as %x", b, again)
		}
	})
}

func FuzzDecodeSessionOpen(f *testing.F) {
	f.Add([]byte(`{"session_id":"s1","kind":"terminal","path":"/agent/v1/relay/s1","token":"t","expires":"2026-12-04T00:00:30Z","cols":80,"rows":24}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeSessionOpen(b)
		if err != nil {
			return
		}
		checkTokenInvariant(t, "session_id", o.SessionID, maxIDLen)
		checkTokenInvariant(t, "token", o.Token, maxTokenLen)
		if o.Path != RelayPath+o.SessionID || o.Kind != SessionTerminal {
			t.Fatalf("accepted path %q kind %q", o.Path, o.Kind)
		}
	})
}
