package protocol

import (
	"strings"
	"testing"
)

func TestParseCredential(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		in             string
		wantID, wantSc string
		wantOK         bool
	}{
		{in: "Agent abc.s3cr3t", wantID: "abc", wantSc: "s3cr3t", wantOK: true},
		{in: "agent abc.s3cr3t", wantID: "abc", wantSc: "s3cr3t", wantOK: true},
		{in: "AGENT abc.s3cr3t", wantID: "abc", wantSc: "s3cr3t", wantOK: true},
		{in: "Agent   abc.s3cr3t  ", wantID: "abc", wantSc: "s3cr3t", wantOK: true},
		{in: "Agent 0196a0b2-7c1e-7d3f-9a55-0123456789ab.AbC_-xyz", wantID: "0196a0b2-7c1e-7d3f-9a55-0123456789ab", wantSc: "AbC_-xyz", wantOK: true},
		{in: "Agent " + long(maxIDLen) + "." + long(maxTokenLen), wantID: long(maxIDLen), wantSc: long(maxTokenLen), wantOK: true},

		{in: ""},
		{in: "Agent"},
		{in: "Agent "},
		{in: "Agent abc"},
		{in: "Agent abc."},
		{in: "Agent .secret"},
		{in: "Agent ."},
		{in: "Bearer abc.secret"},
		{in: "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
		{in: "Agents abc.secret"},
		{in: "Agent\tabc.secret"},
		{in: " Agent abc.secret"},
		{in: "Agent abc .secret"},
		{in: "Agent abc. secret"},
		{in: "Agent abc.sec ret"},
		{in: "Agent abc.secret\x00"},
		{in: "Agent ab\x01c.secret"},
		{in: "Agent abc.secr\x7fet"},
		{in: "Agent äbc.secret"},
		{in: "Agent abc.sécret"},
		{in: "Agent abc.secret\xff"},
		{in: "Agent " + long(maxIDLen+1) + ".secret"},
		{in: "Agent abc." + long(maxTokenLen+1)},
	}
	for _, tt := range tests {
		id, secret, ok := ParseCredential(tt.in)
		if id != tt.wantID || secret != tt.wantSc || ok != tt.wantOK {
			t.Errorf("ParseCredential(%q) = %q, %q, %t; want %q, %q, %t", tt.in, id, secret, ok, tt.wantID, tt.wantSc, tt.wantOK)
		}
	}
}

func TestFormatCredential(t *testing.T) {
	tests := []struct{ id, secret, want string }{
		{"abc", "s3cr3t", "Agent abc.s3cr3t"},
		{"0196a0b2-7c1e-7d3f-9a55-0123456789ab", "AbC_-xyz", "Agent 0196a0b2-7c1e-7d3f-9a55-0123456789ab.AbC_-xyz"},
	}
	for _, tt := range tests {
		got := FormatCredential(tt.id, tt.secret)
		if got != tt.want {
			t.Errorf("FormatCredential(%q, %q) = %q, want %q", tt.id, tt.secret, got, tt.want)
		}
		id, secret, ok := ParseCredential(got)
		if !ok || id != tt.id || secret != tt.secret {
			t.Errorf("ParseCredential(%q) = %q, %q, %t; want %q, %q, true", got, id, secret, ok, tt.id, tt.secret)
		}
	}
}
