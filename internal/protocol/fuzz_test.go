package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// The fuzz targets below cover every decoder of input that comes from the
// network. Each must never panic, and whatever it accepts must satisfy the
// invariants the server relies on later. Regression inputs live in
// testdata/fuzz/<FuzzName>; run one with
//
//	go test -fuzz=FuzzDecodeEnvelope -fuzztime=20s ./internal/protocol

// checkTokenInvariant fails unless v is what checkToken promises: 1..limit
// bytes of printable ASCII without spaces.
func checkTokenInvariant(t *testing.T, name, v string, limit int) {
	t.Helper()
	if v == "" || len(v) > limit {
		t.Fatalf("accepted %s %q: %d bytes, want 1..%d", name, v, len(v), limit)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			t.Fatalf("accepted %s %q with byte %#x", name, v, c)
		}
	}
}

// checkFacts fails unless accepted facts keep every bound Validate
// promises, independently of Validate's own code.
func checkFacts(t *testing.T, f Facts) {
	t.Helper()
	if err := f.Validate(); err != nil {
		t.Fatalf("accepted facts fail Validate: %v", err)
	}
	if strings.TrimSpace(f.Hostname) == "" {
		t.Fatalf("accepted facts with blank hostname %q", f.Hostname)
	}
	texts := []string{f.Hostname, f.OS, f.OSName, f.OSVersion, f.Arch, f.Kernel, f.AgentVersion}
	texts = append(texts, f.IPAddresses...)
	texts = append(texts, f.Users...)
	for _, tr := range f.Trays {
		if strings.TrimSpace(tr.User) == "" || strings.TrimSpace(tr.Version) == "" {
			t.Fatalf("accepted a tray without user or version: %+v", tr)
		}
		texts = append(texts, tr.User, tr.Session, tr.Version)
	}
	for _, s := range texts {
		if len(s) > MaxFieldLen || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }) {
			t.Fatalf("accepted facts with field %q", s)
		}
	}
	if len(f.IPAddresses) > MaxIPs || len(f.Users) > MaxUsers || len(f.Trays) > MaxTrays {
		t.Fatalf("accepted facts with %d IPs, %d users and %d trays", len(f.IPAddresses), len(f.Users), len(f.Trays))
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","id":"1","data":{"hostname":"web-01","os":"linux","ip_addresses":["10.0.0.1"]}}`,
		`{"type":"heartbeat","data":{"time":"2026-05-01T12:00:00Z"}}`,
		`{"type":"heartbeat"}`,
		`{"type":"error","data":{"code":"bad_message","message":"<b>&</b>","ref_id":"x"}}`,
		`{"type":"facts","data":null}`,
		`{"TYPE":"hello","Id":"a","type":"facts"}`,
		`{"type":"a","data":"\u2028\ud800"}`,
		`{"type":"hello"}}`,
		`{"type":"hello"} {"type":"hello"}`,
		`{"type":"hello","data":[1,2,{"a":[]}]}` + "\n",
		`{"type":"` + strings.Repeat("t", maxTypeLen+1) + `"}`,
		`{"type":"x","id":"` + strings.Repeat("i", maxIDLen) + `"}`,
		"{\"type\":\"x\xff\"}",
		``, `null`, `[]`, `"hello"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := DecodeEnvelope(b)
		if err != nil {
			if len(b) > MaxMessageBytes && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeEnvelope(%d bytes) error = %v, want ErrTooLarge", len(b), err)
			}
			return
		}
		if len(b) > MaxMessageBytes {
			t.Fatalf("DecodeEnvelope accepted %d bytes, limit %d", len(b), MaxMessageBytes)
		}
		if !json.Valid(b) {
			t.Fatalf("DecodeEnvelope accepted %q, which is not exactly one JSON value", b)
		}
		checkTokenInvariant(t, "type", env.Type, maxTypeLen)
		if env.ID != "" {
			checkTokenInvariant(t, "id", env.ID, maxIDLen)
		}
		if env.Data != nil && !json.Valid(env.Data) {
			t.Fatalf("accepted envelope with invalid data %q", env.Data)
		}

		// Re-encoding without HTML escaping only drops whitespace, so the
		// result stays within the limit and must decode to the same frame.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(env); err != nil {
			t.Fatalf("re-encode accepted envelope %+v: %v", env, err)
		}
		again, err := DecodeEnvelope(buf.Bytes())
		if err != nil {
			t.Fatalf("DecodeEnvelope(re-encoded %q): %v", buf.Bytes(), err)
		}
		if again.Type != env.Type || again.ID != env.ID {
			t.Fatalf("re-decoded type %q id %q, want type %q id %q", again.Type, again.ID, env.Type, env.ID)
		}
		if env.Data != nil {
			var want bytes.Buffer
			if err := json.Compact(&want, env.Data); err != nil {
				t.Fatalf("compact accepted data %q: %v", env.Data, err)
			}
			if !bytes.Equal(again.Data, want.Bytes()) {
				t.Fatalf("re-decoded data %q, want %q", again.Data, want.Bytes())
			}
		}

		// Encode, which the peers use, escapes HTML and may outgrow the
		// limit; anything it does produce must decode to the same frame.
		var payload any
		if env.Data != nil {
			payload = env.Data
		}
		out, err := Encode(env.Type, env.ID, payload)
		if err != nil {
			if !strings.Contains(err.Error(), "limit") {
				t.Fatalf("Encode(%q, %q, accepted data): %v", env.Type, env.ID, err)
			}
			return
		}
		again, err = DecodeEnvelope(out)
		if err != nil {
			t.Fatalf("DecodeEnvelope(Encode(...) = %q): %v", out, err)
		}
		if again.Type != env.Type || again.ID != env.ID {
			t.Fatalf("Encode round trip: type %q id %q, want type %q id %q", again.Type, again.ID, env.Type, env.ID)
		}
	})
}

func FuzzDecodeFacts(f *testing.F) {
	for _, s := range []string{
		string(mustJSON(f, validFacts())),
		`{"hostname":"a"}`,
		`{"hostname":"a","ip_addresses":["fe80::1%eth0","::ffff:1.2.3.4","1.2.3.4"],"users":["CORP\\bob"]}`,
		`{"hostname":"a","boot_time":"9999-12-31T23:59:59Z"}`,
		`{"hostname":"a","trays":[{"user":"alice","session":"2","version":"1.1.0"},{"user":"CORP\\bob","version":"1.0.0"}]}`,
		`{"hostname":"a","trays":[{"user":"","version":"1.1.0"}]}`,
		`{"hostname":"a","trays":[{"user":"a","version":"1\u0000"}]}`,
		`{"hostname":"a","trays":[null]}`,
		`{"hostname":"a","boot_time":"2026-05-01T12:00:00+14:00"}`,
		`{"hostname":"\u0085"}`,
		`{"hostname":"a","ip_addresses":["fe80::1%\n"]}`,
		"{\"hostname\":\"\xff\"}",
		`{"hostname":"a"}}`,
		`{"hostname":" "}`,
		`{"Hostname":"a","HOSTNAME":"b"}`,
		``, `null`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		facts, err := DecodeFacts(b)
		if err != nil {
			if diff := cmp.Diff(Facts{}, facts); diff != "" {
				t.Fatalf("DecodeFacts returned partial facts with error %v:\n%s", err, diff)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("DecodeFacts accepted %q, which is not exactly one JSON value", b)
		}
		checkFacts(t, facts)
		again, err := DecodeFacts(mustJSON(t, facts))
		if err != nil {
			t.Fatalf("DecodeFacts(re-encoded %+v): %v", facts, err)
		}
		if diff := cmp.Diff(facts, again); diff != "" {
			t.Fatalf("facts changed through re-encoding (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	for _, s := range []string{
		`{"time":"2026-05-01T12:00:00.123456789Z"}`,
		`{"time":"2026-05-01T12:00:00-23:59"}`,
		`{"time":"0000-01-01T00:00:00Z"}`,
		`{"time":null}`,
		`{"time":"2026-05-01"}`,
		`{}}`,
		``, `null`, `{}`, `[]`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeartbeat(b)
		if err != nil {
			return
		}
		if len(b) > 0 && !json.Valid(b) {
			t.Fatalf("DecodeHeartbeat accepted %q, which is not exactly one JSON value", b)
		}
		again, err := DecodeHeartbeat(mustJSON(t, h))
		if err != nil {
			t.Fatalf("DecodeHeartbeat(re-encoded %+v): %v", h, err)
		}
		if !again.Time.Equal(h.Time) {
			t.Fatalf("heartbeat time changed through re-encoding: %v, then %v", h.Time, again.Time)
		}
	})
}

func FuzzDecodeEnrollRequest(f *testing.F) {
	for _, s := range []string{
		string(mustJSON(f, EnrollRequest{Token: "ste_AbC-123_xyz", Facts: validFacts()})),
		`{"token":"ste_x","facts":{"hostname":"a"}}`,
		`{"token":"ste_x"}`,
		`{"token":"ste x","facts":{"hostname":"a"}}`,
		`{"token":"ste_x","facts":{"hostname":"a"}}}`,
		`{"token":"ste_x","facts":{"hostname":"a","ip_addresses":["x"]}}`,
		`{"token":"` + strings.Repeat("a", maxTokenLen+1) + `","facts":{"hostname":"a"}}`,
		``, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeEnrollRequest(b)
		if err != nil {
			if len(b) > MaxEnrollBodyBytes && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeEnrollRequest(%d bytes) error = %v, want ErrTooLarge", len(b), err)
			}
			return
		}
		if len(b) > MaxEnrollBodyBytes {
			t.Fatalf("DecodeEnrollRequest accepted %d bytes, limit %d", len(b), MaxEnrollBodyBytes)
		}
		if !json.Valid(b) {
			t.Fatalf("DecodeEnrollRequest accepted %q, which is not exactly one JSON value", b)
		}
		checkTokenInvariant(t, "token", r.Token, maxTokenLen)
		checkFacts(t, r.Facts)
		again, err := DecodeEnrollRequest(mustJSON(t, r))
		if err != nil {
			t.Fatalf("DecodeEnrollRequest(re-encoded %+v): %v", r, err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("request changed through re-encoding (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseCredential(f *testing.F) {
	for _, s := range []string{
		"Agent abc.s3cr3t",
		"agent 0196a0b2-7c1e-7d3f-9a55-0123456789ab.AbC_-xyz",
		"Agent   a.b  ",
		"Agent a.b.c",
		"Agent .b", "Agent a.", "Agent a", "Agent", "",
		"Bearer a.b",
		"Agent a\x00.b",
		"Agent ä.b",
		"Agent " + strings.Repeat("a", maxIDLen+1) + ".b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, secret, ok := ParseCredential(header)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("ParseCredential(%q) = %q, %q, false; want empty strings when rejecting", header, id, secret)
			}
			return
		}
		checkTokenInvariant(t, "agent id", id, maxIDLen)
		checkTokenInvariant(t, "secret", secret, maxTokenLen)
		if strings.Contains(id, ".") {
			t.Fatalf("ParseCredential(%q) agent id %q contains a dot", header, id)
		}
		formatted := FormatCredential(id, secret)
		id2, secret2, ok := ParseCredential(formatted)
		if !ok || id2 != id || secret2 != secret {
			t.Fatalf("ParseCredential(FormatCredential(%q, %q) = %q) = %q, %q, %t", id, secret, formatted, id2, secret2, ok)
		}
	})
}
