package protocol

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name    string
		typ, id string
		payload any
		want    string
	}{
		{name: "no payload", typ: TypeHeartbeat, want: `{"type":"heartbeat"}`},
		{name: "id without payload", typ: TypeHeartbeat, id: "7", want: `{"type":"heartbeat","id":"7"}`},
		{name: "struct payload", typ: TypeError, id: "e1",
			payload: Error{Code: CodeBadMessage, Message: "bad", RefID: "m1"},
			want:    `{"type":"error","id":"e1","data":{"code":"bad_message","message":"bad","ref_id":"m1"}}`},
		{name: "raw payload", typ: "custom", payload: json.RawMessage(`[1, 2]`), want: `{"type":"custom","data":[1,2]}`},
		{name: "duration payload", typ: "custom", payload: Duration(90 * time.Second), want: `{"type":"custom","data":"1m30s"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.typ, tt.id, tt.payload)
			if err != nil {
				t.Fatalf("Encode(%q, %q, %v): %v", tt.typ, tt.id, tt.payload, err)
			}
			if string(got) != tt.want {
				t.Errorf("Encode(%q, %q, %v) = %s, want %s", tt.typ, tt.id, tt.payload, got, tt.want)
			}
			env, err := DecodeEnvelope(got)
			if err != nil {
				t.Fatalf("DecodeEnvelope(Encode(...)): %v", err)
			}
			if env.Type != tt.typ || env.ID != tt.id {
				t.Errorf("DecodeEnvelope(%s) = type %q id %q, want type %q id %q", got, env.Type, env.ID, tt.typ, tt.id)
			}
			if (tt.payload == nil) != (env.Data == nil) {
				t.Errorf("DecodeEnvelope(%s).Data = %s, want data present = %t", got, env.Data, tt.payload != nil)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload any
		wantErr string
	}{
		{name: "unmarshalable payload", payload: make(chan int), wantErr: "encode facts"},
		{name: "unsupported value", payload: map[string]float64{"x": math.Inf(1)}, wantErr: "encode facts"},
		{name: "over the message limit", payload: strings.Repeat("x", MaxMessageBytes), wantErr: "limit 65536"},
		// HTML escaping makes '<' six bytes: the limit applies to the output.
		{name: "over the limit after escaping", payload: strings.Repeat("<", MaxMessageBytes/6+1), wantErr: "limit 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(TypeFacts, "", tt.payload)
			if err == nil {
				t.Fatalf("Encode(%T) = %d bytes, want error", tt.payload, len(got))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Encode(%T) error = %q, want it to contain %q", tt.payload, err, tt.wantErr)
			}
		})
	}
}

// TestEncodeFactsRoundTrip checks the path a hello takes: agent encodes,
// server decodes the envelope and then the facts.
func TestEncodeFactsRoundTrip(t *testing.T) {
	want := validFacts()
	b, err := Encode(TypeHello, "h1", want)
	if err != nil {
		t.Fatalf("Encode(hello): %v", err)
	}
	env, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatalf("DecodeEnvelope: %v", err)
	}
	got, err := DecodeFacts(env.Data)
	if err != nil {
		t.Fatalf("DecodeFacts: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts after Encode/DecodeEnvelope/DecodeFacts (-want +got):\n%s", diff)
	}
}

func TestDurationJSON(t *testing.T) {
	marshal := []struct {
		in   Duration
		want string
	}{
		{0, `"0s"`},
		{Duration(30 * time.Second), `"30s"`},
		{Duration(90 * time.Second), `"1m30s"`},
		{Duration(1500 * time.Millisecond), `"1.5s"`},
		{Duration(2 * time.Hour), `"2h0m0s"`},
	}
	for _, tt := range marshal {
		got, err := json.Marshal(tt.in)
		if err != nil {
			t.Fatalf("json.Marshal(Duration(%d)): %v", tt.in, err)
		}
		if string(got) != tt.want {
			t.Errorf("json.Marshal(Duration(%d)) = %s, want %s", tt.in, got, tt.want)
		}
		var back Duration
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", got, err)
		}
		if back != tt.in {
			t.Errorf("json.Unmarshal(%s) = %v, want %v", got, time.Duration(back), time.Duration(tt.in))
		}
	}

	unmarshal := []struct {
		in      string
		want    Duration
		wantErr bool
	}{
		{in: `"45s"`, want: Duration(45 * time.Second)},
		{in: `"250ms"`, want: Duration(250 * time.Millisecond)},
		{in: `"0"`, want: 0},
		{in: `"1h2m3s"`, want: Duration(time.Hour + 2*time.Minute + 3*time.Second)},
		{in: `30`, wantErr: true},
		{in: `30.5`, wantErr: true},
		{in: `null`, want: 0, wantErr: true},
		{in: `""`, wantErr: true},
		{in: `"30"`, wantErr: true},
		{in: `"thirty seconds"`, wantErr: true},
		{in: `"-5s"`, wantErr: true},
		{in: `"9999999999h"`, wantErr: true},
		{in: `{"s":30}`, wantErr: true},
	}
	for _, tt := range unmarshal {
		var got Duration
		err := json.Unmarshal([]byte(tt.in), &got)
		switch {
		case tt.wantErr && err == nil:
			t.Errorf("json.Unmarshal(%s) = %v, want error", tt.in, time.Duration(got))
		case !tt.wantErr && err != nil:
			t.Errorf("json.Unmarshal(%s): %v", tt.in, err)
		case !tt.wantErr && got != tt.want:
			t.Errorf("json.Unmarshal(%s) = %v, want %v", tt.in, time.Duration(got), time.Duration(tt.want))
		}
	}
}
