package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeResult(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "ok", data: `{"command_id":"c1","status":"ok","output":{"agent_time":"2026-01-01T00:00:00Z"}}`},
		{name: "error", data: `{"command_id":"c1","status":"error","error":"boom"}`},
		{name: "unsupported", data: `{"command_id":"c1","status":"unsupported"}`},
		{name: "empty", data: ``, wantErr: "missing data"},
		{name: "no id", data: `{"status":"ok"}`, wantErr: "command_id is required"},
		{name: "bad id", data: `{"command_id":"a b","status":"ok"}`, wantErr: "invalid characters"},
		{name: "bad status", data: `{"command_id":"c1","status":"maybe"}`, wantErr: "status must be"},
		{name: "trailing", data: `{"command_id":"c1","status":"ok"}}`, wantErr: "decode result"},
		{name: "long error", data: `{"command_id":"c1","status":"error","error":"` + strings.Repeat("x", 4097) + `"}`, wantErr: "limit 4096"},
		{name: "huge output", data: `{"command_id":"c1","status":"ok","output":"` + strings.Repeat("x", MaxOutputBytes) + `"}`, wantErr: "output is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeResult(json.RawMessage(tt.data))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("DecodeResult(%.60q) = %v, want nil", tt.data, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("DecodeResult(%.60q) = %v, want error containing %q", tt.data, err, tt.wantErr)
			}
		})
	}
}

func TestDecodeCommand(t *testing.T) {
	c, err := DecodeCommand(json.RawMessage(`{"command_id":"c1","name":"ping","args":{"x":1}}`))
	if err != nil || c.CommandID != "c1" || c.Name != "ping" || string(c.Args) != `{"x":1}` {
		t.Fatalf("DecodeCommand = %+v, %v; want ping c1 with args", c, err)
	}
	for _, bad := range []string{``, `{}`, `{"command_id":"c1"}`, `{"name":"ping"}`, `{"command_id":"c 1","name":"ping"}`, `[1]`} {
		if _, err := DecodeCommand(json.RawMessage(bad)); err == nil {
			t.Errorf("DecodeCommand(%q) = nil error, want an error", bad)
		}
	}
}

// FuzzDecodeResult covers the one command message agents send: it must
// never panic, and an accepted result keeps the bounds the server's store
// relies on.
func FuzzDecodeResult(f *testing.F) {
	for _, s := range []string{
		`{"command_id":"c1","status":"ok","output":{"agent_time":"2026-01-01T00:00:00Z"}}`,
		`{"command_id":"c1","status":"error","error":"boom"}`,
		`{"command_id":"c1","status":"unsupported"}`,
		`{"command_id":"","status":"ok"}`, `{"command_id":"c1","status":"ok","output":[1,2}`, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResult(json.RawMessage(data))
		if err != nil {
			return
		}
		checkTokenInvariant(t, "command_id", r.CommandID, maxIDLen)
		switch r.Status {
		case ResultOK, ResultError, ResultUnsupported:
		default:
			t.Fatalf("accepted status %q", r.Status)
		}
		if len(r.Output) > MaxOutputBytes || (len(r.Output) > 0 && !json.Valid(r.Output)) {
			t.Fatalf("accepted output of %d bytes, valid=%v", len(r.Output), json.Valid(r.Output))
		}
		if len(r.Error) > 4096 {
			t.Fatalf("accepted error of %d bytes", len(r.Error))
		}
	})
}

// FuzzDecodeCommand covers the agent's decoder of server commands.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{`{"command_id":"c1","name":"ping"}`, `{"command_id":"c1","name":"ping","args":{}}`, `{}`, `x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(json.RawMessage(data))
		if err != nil {
			return
		}
		checkTokenInvariant(t, "command_id", c.CommandID, maxIDLen)
		checkTokenInvariant(t, "name", c.Name, maxTypeLen)
	})
}
