package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// validFacts returns facts that pass Validate; tests mutate copies.
func validFacts() Facts {
	return Facts{
		Hostname:     "web-01",
		OS:           "linux",
		OSName:       "ubuntu",
		OSVersion:    "24.04",
		Arch:         "amd64",
		Kernel:       "6.8.0-45-generic",
		AgentVersion: "0.1.0",
		BootTime:     time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC),
		IPAddresses:  []string{"10.0.0.5", "fe80::1%eth0", "2001:db8::1"},
		Users:        []string{"alice", `CORP\bob`},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", v, err)
	}
	return b
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Envelope
		wantErr bool
	}{
		{name: "type only", in: `{"type":"heartbeat"}`, want: Envelope{Type: "heartbeat"}},
		{name: "with id and data", in: `{"type":"hello","id":"m-1","data":{"hostname":"a"}}`,
			want: Envelope{Type: "hello", ID: "m-1", Data: json.RawMessage(`{"hostname":"a"}`)}},
		{name: "unknown type is the caller's business", in: `{"type":"reboot.v2"}`, want: Envelope{Type: "reboot.v2"}},
		{name: "unknown fields ignored", in: `{"type":"hello","extra":[1,2]}`, want: Envelope{Type: "hello"}},
		{name: "trailing whitespace", in: "{\"type\":\"hello\"}\r\n\t ", want: Envelope{Type: "hello"}},
		{name: "max type length", in: `{"type":"` + strings.Repeat("t", maxTypeLen) + `"}`, want: Envelope{Type: strings.Repeat("t", maxTypeLen)}},
		{name: "max id length", in: `{"type":"a","id":"` + strings.Repeat("i", maxIDLen) + `"}`, want: Envelope{Type: "a", ID: strings.Repeat("i", maxIDLen)}},

		{name: "empty input", in: ``, wantErr: true},
		{name: "null", in: `null`, wantErr: true},
		{name: "array", in: `[{"type":"hello"}]`, wantErr: true},
		{name: "not JSON", in: `type=hello`, wantErr: true},
		{name: "truncated", in: `{"type":"hello"`, wantErr: true},
		{name: "missing type", in: `{"id":"1"}`, wantErr: true},
		{name: "empty type", in: `{"type":""}`, wantErr: true},
		{name: "type not a string", in: `{"type":7}`, wantErr: true},
		{name: "type too long", in: `{"type":"` + strings.Repeat("t", maxTypeLen+1) + `"}`, wantErr: true},
		{name: "space in type", in: `{"type":"hel lo"}`, wantErr: true},
		{name: "control character in type", in: `{"type":"hello\n"}`, wantErr: true},
		{name: "NUL in type", in: `{"type":"hel\u0000lo"}`, wantErr: true},
		{name: "non-ASCII type", in: `{"type":"héllo"}`, wantErr: true},
		{name: "invalid UTF-8 in type", in: "{\"type\":\"hel\xfflo\"}", wantErr: true},
		{name: "id too long", in: `{"type":"a","id":"` + strings.Repeat("i", maxIDLen+1) + `"}`, wantErr: true},
		{name: "control character in id", in: `{"type":"a","id":"1\t2"}`, wantErr: true},
		{name: "second document", in: `{"type":"hello"}{"type":"facts"}`, wantErr: true},
		{name: "second document after space", in: `{"type":"hello"} {"type":"facts"}`, wantErr: true},
		{name: "trailing garbage", in: `{"type":"hello"}x`, wantErr: true},
		{name: "trailing closing brace", in: `{"type":"hello"}}`, wantErr: true},
		{name: "trailing closing bracket", in: `{"type":"hello"}]`, wantErr: true},
		{name: "trailing comma", in: `{"type":"hello"},`, wantErr: true},
		{name: "trailing number", in: `{"type":"hello"} 1`, wantErr: true},
		{name: "malformed data", in: `{"type":"hello","data":{"a":}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEnvelope([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("DecodeEnvelope(%q) = %+v, want error", tt.in, got)
				}
				if diff := cmp.Diff(Envelope{}, got); diff != "" {
					t.Errorf("DecodeEnvelope(%q) returned a partial envelope with its error (-want +got):\n%s", tt.in, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeEnvelope(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeEnvelope(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeEnvelopeSize(t *testing.T) {
	// padded builds a valid envelope of exactly n bytes.
	padded := func(n int) []byte {
		head, tail := `{"type":"facts","data":"`, `"}`
		return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
	}
	if b := padded(MaxMessageBytes); len(b) != MaxMessageBytes {
		t.Fatalf("padded(%d) is %d bytes", MaxMessageBytes, len(b))
	}
	if _, err := DecodeEnvelope(padded(MaxMessageBytes)); err != nil {
		t.Errorf("DecodeEnvelope(%d bytes): %v, want success at the limit", MaxMessageBytes, err)
	}
	if _, err := DecodeEnvelope(padded(MaxMessageBytes + 1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeEnvelope(%d bytes) error = %v, want ErrTooLarge", MaxMessageBytes+1, err)
	}
	// Size is checked before parsing: garbage over the limit is still too large.
	if _, err := DecodeEnvelope(make([]byte, 10*MaxMessageBytes)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeEnvelope(%d NUL bytes) error = %v, want ErrTooLarge", 10*MaxMessageBytes, err)
	}
}

func TestValidateFacts(t *testing.T) {
	ips := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		}
		return out
	}
	users := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("user%d", i)
		}
		return out
	}
	trays := func(n int) []TrayInfo {
		out := make([]TrayInfo, n)
		for i := range out {
			out[i] = TrayInfo{User: fmt.Sprintf("user%d", i), Session: fmt.Sprint(i), Version: "1.1.0"}
		}
		return out
	}
	tests := []struct {
		name    string
		mutate  func(*Facts)
		wantErr string // substring; empty means valid
	}{
		{name: "valid", mutate: func(*Facts) {}},
		{name: "only hostname", mutate: func(f *Facts) { *f = Facts{Hostname: "h"} }},
		{name: "unicode hostname", mutate: func(f *Facts) { f.Hostname = "büro-pc-ü" }},
		{name: "hostname at limit", mutate: func(f *Facts) { f.Hostname = strings.Repeat("h", MaxFieldLen) }},
		{name: "multi-byte text at limit", mutate: func(f *Facts) { f.OSName = strings.Repeat("é", MaxFieldLen/2) }},
		{name: "spaces allowed", mutate: func(f *Facts) { f.OSName = "Microsoft Windows 11 Pro" }},
		{name: "ips at limit", mutate: func(f *Facts) { f.IPAddresses = ips(MaxIPs) }},
		{name: "users at limit", mutate: func(f *Facts) { f.Users = users(MaxUsers) }},
		{name: "zero boot time", mutate: func(f *Facts) { f.BootTime = time.Time{} }},
		{name: "trays at limit", mutate: func(f *Facts) { f.Trays = trays(MaxTrays) }},
		{name: "tray without session", mutate: func(f *Facts) { f.Trays = []TrayInfo{{User: `CORP\bob`, Version: "1.1.0"}} }},
		{name: "boot time slightly ahead (clock skew)", mutate: func(f *Facts) { f.BootTime = time.Now().Add(time.Hour) }},
		{name: "ipv4-mapped ipv6", mutate: func(f *Facts) { f.IPAddresses = []string{"::ffff:10.0.0.1"} }},
		{name: "power pending", mutate: func(f *Facts) {
			f.PowerPending = &PowerState{Action: PowerReboot, At: time.Now(), Message: "patches\ntonight", By: "alice"}
		}},
		{name: "power pending without action", mutate: func(f *Facts) { f.PowerPending = &PowerState{At: time.Now()} },
			wantErr: "power_pending: action must be"},
		{name: "power pending without time", mutate: func(f *Facts) { f.PowerPending = &PowerState{Action: PowerShutdown} },
			wantErr: "power_pending: time is required"},
		{name: "power pending message too long", mutate: func(f *Facts) {
			f.PowerPending = &PowerState{Action: PowerShutdown, At: time.Now(), Message: strings.Repeat("m", MaxPowerMessage+1)}
		}, wantErr: "power_pending: message is"},

		{name: "missing hostname", mutate: func(f *Facts) { f.Hostname = "" }, wantErr: "hostname is required"},
		{name: "blank hostname", mutate: func(f *Facts) { f.Hostname = " \u00a0 " }, wantErr: "hostname is required"},
		{name: "hostname too long", mutate: func(f *Facts) { f.Hostname = strings.Repeat("h", MaxFieldLen+1) }, wantErr: "hostname is 257 bytes"},
		{name: "multi-byte text over limit", mutate: func(f *Facts) { f.Kernel = strings.Repeat("é", MaxFieldLen/2+1) }, wantErr: "kernel is 258 bytes"},
		{name: "NUL in hostname", mutate: func(f *Facts) { f.Hostname = "web\x00" }, wantErr: "hostname contains control characters"},
		{name: "newline in os", mutate: func(f *Facts) { f.OS = "linux\n" }, wantErr: "os contains control characters"},
		{name: "tab in os_version", mutate: func(f *Facts) { f.OSVersion = "24\t04" }, wantErr: "os_version contains control characters"},
		{name: "escape in arch", mutate: func(f *Facts) { f.Arch = "\x1b[31mamd64" }, wantErr: "arch contains control characters"},
		{name: "DEL in agent_version", mutate: func(f *Facts) { f.AgentVersion = "1.0\x7f" }, wantErr: "agent_version contains control characters"},
		{name: "C1 CSI in os_name", mutate: func(f *Facts) { f.OSName = "ubuntu\u009b31m" }, wantErr: "os_name contains control characters"},
		{name: "C1 NEL in hostname", mutate: func(f *Facts) { f.Hostname = "web\u0085" }, wantErr: "hostname contains control characters"},
		{name: "invalid UTF-8 in hostname", mutate: func(f *Facts) { f.Hostname = "web\xff" }, wantErr: "hostname is not valid UTF-8"},
		{name: "truncated UTF-8 in kernel", mutate: func(f *Facts) { f.Kernel = "6.8\xc3" }, wantErr: "kernel is not valid UTF-8"},
		{name: "too many ips", mutate: func(f *Facts) { f.IPAddresses = ips(MaxIPs + 1) }, wantErr: "65 ip_addresses, limit 64"},
		{name: "hostname as ip", mutate: func(f *Facts) { f.IPAddresses = []string{"10.0.0.1", "example.com"} }, wantErr: `"example.com" is not an IP address`},
		{name: "empty ip", mutate: func(f *Facts) { f.IPAddresses = []string{""} }, wantErr: "is not an IP address"},
		{name: "cidr", mutate: func(f *Facts) { f.IPAddresses = []string{"10.0.0.0/8"} }, wantErr: "is not an IP address"},
		{name: "short ipv4", mutate: func(f *Facts) { f.IPAddresses = []string{"10.1"} }, wantErr: "is not an IP address"},
		{name: "ip with port", mutate: func(f *Facts) { f.IPAddresses = []string{"10.0.0.1:22"} }, wantErr: "is not an IP address"},
		{name: "ip with spaces", mutate: func(f *Facts) { f.IPAddresses = []string{" 10.0.0.1"} }, wantErr: "is not an IP address"},
		{name: "long non-ip is truncated in the error", mutate: func(f *Facts) { f.IPAddresses = []string{strings.Repeat("z", 200)} }, wantErr: strings.Repeat("z", 40) + "…"},
		{name: "control characters in ip zone", mutate: func(f *Facts) { f.IPAddresses = []string{"fe80::1%eth0\n<script>"} }, wantErr: "ip_addresses contains control characters"},
		{name: "overlong ip zone", mutate: func(f *Facts) { f.IPAddresses = []string{"fe80::1%" + strings.Repeat("z", 10000)} }, wantErr: "ip_addresses is 10008 bytes"},
		{name: "too many users", mutate: func(f *Facts) { f.Users = users(MaxUsers + 1) }, wantErr: "65 users, limit 64"},
		{name: "control character in user", mutate: func(f *Facts) { f.Users = []string{"alice", "bob\r"} }, wantErr: "users contains control characters"},
		{name: "user too long", mutate: func(f *Facts) { f.Users = []string{strings.Repeat("u", MaxFieldLen+1)} }, wantErr: "users is 257 bytes"},
		{name: "too many trays", mutate: func(f *Facts) { f.Trays = trays(MaxTrays + 1) }, wantErr: "65 trays, limit 64"},
		{name: "tray without user", mutate: func(f *Facts) { f.Trays = []TrayInfo{{User: " ", Version: "1.1.0"}} }, wantErr: "user and version are required"},
		{name: "tray without version", mutate: func(f *Facts) { f.Trays = []TrayInfo{{User: "alice"}} }, wantErr: "user and version are required"},
		{name: "control character in tray session", mutate: func(f *Facts) { f.Trays = []TrayInfo{{User: "alice", Session: "2\n", Version: "1.1.0"}} }, wantErr: "trays.session contains control characters"},
		{name: "tray version too long", mutate: func(f *Facts) { f.Trays = []TrayInfo{{User: "alice", Version: strings.Repeat("1", MaxFieldLen+1)}} }, wantErr: "trays.version is 257 bytes"},
		{name: "boot time in the future", mutate: func(f *Facts) { f.BootTime = time.Now().Add(48 * time.Hour) }, wantErr: "boot_time is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validFacts()
			tt.mutate(&f)
			err := f.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("Validate() = nil, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Validate() = %q, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeFacts(t *testing.T) {
	want := validFacts()
	got, err := DecodeFacts(mustJSON(t, want))
	if err != nil {
		t.Fatalf("DecodeFacts(valid facts): %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeFacts round trip (-want +got):\n%s", diff)
	}

	bad := []struct {
		name string
		in   string
	}{
		{"nil", ""},
		{"null", "null"},
		{"empty object", "{}"},
		{"not an object", `"web-01"`},
		{"missing hostname", `{"os":"linux"}`},
		{"wrong type", `{"hostname":7}`},
		{"ips not a list", `{"hostname":"a","ip_addresses":"10.0.0.1"}`},
		{"non-ip string", `{"hostname":"a","ip_addresses":["localhost"]}`},
		{"escaped control character", `{"hostname":"a\u0007b"}`},
		{"escaped NUL", `{"hostname":"a\u0000"}`},
		{"bad boot time", `{"hostname":"a","boot_time":"yesterday"}`},
		{"trailing data", `{"hostname":"a"}{"hostname":"b"}`},
		{"trailing brace", `{"hostname":"a"}}`},
		{"truncated", `{"hostname":"a"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFacts(json.RawMessage(tt.in))
			if err == nil {
				t.Fatalf("DecodeFacts(%q) = %+v, want error", tt.in, got)
			}
			if diff := cmp.Diff(Facts{}, got); diff != "" {
				t.Errorf("DecodeFacts(%q) returned partial facts with its error (-want +got):\n%s", tt.in, diff)
			}
		})
	}

	t.Run("too many ips", func(t *testing.T) {
		f := Facts{Hostname: "a"}
		for i := range MaxIPs + 1 {
			f.IPAddresses = append(f.IPAddresses, fmt.Sprintf("192.168.0.%d", i))
		}
		if _, err := DecodeFacts(mustJSON(t, f)); err == nil || !strings.Contains(err.Error(), "ip_addresses") {
			t.Errorf("DecodeFacts(%d ips) error = %v, want ip_addresses limit", len(f.IPAddresses), err)
		}
	})

	// encoding/json replaces invalid UTF-8 with U+FFFD, so raw invalid
	// bytes cannot reach the database: they decode to valid text.
	t.Run("raw invalid UTF-8", func(t *testing.T) {
		got, err := DecodeFacts(json.RawMessage("{\"hostname\":\"web\xff\xfe\"}"))
		if err != nil {
			t.Fatalf("DecodeFacts(invalid UTF-8): %v", err)
		}
		if !utf8.ValidString(got.Hostname) || got.Hostname != "web\ufffd\ufffd" {
			t.Errorf("DecodeFacts(invalid UTF-8) hostname = %q, want %q", got.Hostname, "web\ufffd\ufffd")
		}
	})
}

func TestDecodeHeartbeat(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    Heartbeat
		wantErr bool
	}{
		{name: "empty payload", in: "", want: Heartbeat{}},
		{name: "null", in: "null", want: Heartbeat{}},
		{name: "empty object", in: "{}", want: Heartbeat{}},
		{name: "time", in: `{"time":"2026-05-01T12:00:00.123456789Z"}`, want: Heartbeat{Time: at}},
		{name: "time with offset", in: `{"time":"2026-05-01T14:00:00.123456789+02:00"}`, want: Heartbeat{Time: at}},
		{name: "bad time", in: `{"time":"noon"}`, wantErr: true},
		{name: "time as number", in: `{"time":1714564800}`, wantErr: true},
		{name: "array", in: `[]`, wantErr: true},
		{name: "trailing data", in: `{} {}`, wantErr: true},
		{name: "trailing brace", in: `{}}`, wantErr: true},
		{name: "truncated", in: `{"time":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeHeartbeat(json.RawMessage(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("DecodeHeartbeat(%q) = %+v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeHeartbeat(%q): %v", tt.in, err)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("DecodeHeartbeat(%q).Time = %v, want %v", tt.in, got.Time, tt.want.Time)
			}
		})
	}
}

func TestDecodeWelcome(t *testing.T) {
	want := Welcome{
		AgentID:           "0196a0b2-7c1e-7d3f-9a55-0123456789ab",
		ProtocolVersion:   Version,
		ServerVersion:     "0.1.0",
		HeartbeatInterval: Duration(30 * time.Second),
		ServerTime:        time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
	}
	got, err := DecodeWelcome(mustJSON(t, want))
	if err != nil {
		t.Fatalf("DecodeWelcome: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeWelcome round trip (-want +got):\n%s", diff)
	}

	bad := []struct{ name, in string }{
		{"empty", ""},
		{"null", "null"},
		{"missing agent_id", `{"protocol_version":1,"heartbeat_interval":"30s"}`},
		{"empty agent_id", `{"agent_id":""}`},
		{"interval as number", `{"agent_id":"a","heartbeat_interval":30}`},
		{"negative interval", `{"agent_id":"a","heartbeat_interval":"-30s"}`},
		{"malformed interval", `{"agent_id":"a","heartbeat_interval":"thirty"}`},
		{"not JSON", `welcome`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := DecodeWelcome(json.RawMessage(tt.in)); err == nil {
				t.Errorf("DecodeWelcome(%q) = %+v, want error", tt.in, got)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	want := Error{Code: CodeUnknownType, Message: `unknown message type "x"`, RefID: "m-7"}
	got, err := DecodeError(mustJSON(t, want))
	if err != nil {
		t.Fatalf("DecodeError: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeError round trip (-want +got):\n%s", diff)
	}
	if got, err := DecodeError(json.RawMessage(`{"code":`)); err == nil {
		t.Errorf("DecodeError(truncated) = %+v, want error", got)
	}
}

func TestDecodeEnrollRequest(t *testing.T) {
	valid := EnrollRequest{Token: "ste_AbC-123_xyz", Facts: validFacts()}
	got, err := DecodeEnrollRequest(mustJSON(t, valid))
	if err != nil {
		t.Fatalf("DecodeEnrollRequest(valid): %v", err)
	}
	if diff := cmp.Diff(valid, got); diff != "" {
		t.Errorf("DecodeEnrollRequest round trip (-want +got):\n%s", diff)
	}

	withToken := func(tok string) string {
		return string(mustJSON(t, EnrollRequest{Token: tok, Facts: validFacts()}))
	}
	tooBig := `{"token":"ste_x","facts":{"hostname":"a"},"pad":"` + strings.Repeat("x", MaxEnrollBodyBytes) + `"}`
	bad := []struct {
		name, in string
		wantErr  string
	}{
		{"empty body", "", "decode enroll request"},
		{"null", "null", "missing token"},
		{"missing token", `{"facts":{"hostname":"a"}}`, "missing token"},
		{"token not a string", `{"token":1,"facts":{"hostname":"a"}}`, "decode enroll request"},
		{"token with space", withToken("ste_a b"), "token contains invalid characters"},
		{"token with newline", withToken("ste_ab\n"), "token contains invalid characters"},
		{"non-ASCII token", withToken("ste_ä"), "token contains invalid characters"},
		{"token too long", withToken("ste_" + strings.Repeat("a", maxTokenLen)), "token is 260 bytes"},
		{"missing facts", `{"token":"ste_x"}`, "hostname is required"},
		{"facts null", `{"token":"ste_x","facts":null}`, "hostname is required"},
		{"bad facts", `{"token":"ste_x","facts":{"hostname":"a","ip_addresses":["nope"]}}`, "not an IP address"},
		{"trailing data", `{"token":"ste_x","facts":{"hostname":"a"}}{}`, "trailing data"},
		{"trailing brace", `{"token":"ste_x","facts":{"hostname":"a"}}}`, "trailing data"},
		{"over the size limit", tooBig, ErrTooLarge.Error()},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEnrollRequest([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeEnrollRequest(%.80q) = %+v, want error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DecodeEnrollRequest(%.80q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(EnrollRequest{}, got); diff != "" {
				t.Errorf("DecodeEnrollRequest(%.80q) returned a partial request with its error (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if _, err := DecodeEnrollRequest([]byte(tooBig)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeEnrollRequest(%d bytes) error = %v, want ErrTooLarge", len(tooBig), err)
	}
}
