package access

import (
	"strings"
	"sync"
	"testing"

	"github.com/steward-rmm/steward/internal/auth"
)

func TestSetupGate(t *testing.T) {
	g := NewSetupGate()
	tok := g.Token()
	if !strings.HasPrefix(tok, auth.PrefixSetup) || len(tok) < len(auth.PrefixSetup)+40 {
		t.Fatalf("Token() = %q, want %s followed by a long random part", tok, auth.PrefixSetup)
	}
	if other := NewSetupGate().Token(); other == tok {
		t.Errorf("two gates share the token %q", tok)
	}

	tests := []struct {
		tok  string
		want bool
	}{
		{tok, true},
		{"", false},
		{tok + "x", false},
		{tok[:len(tok)-1], false},
		{strings.ToUpper(tok), false},
		{auth.PrefixSetup, false},
	}
	for _, tt := range tests {
		if got := g.Valid(tt.tok); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.tok, got, tt.want)
		}
	}

	g.Close()
	if got := g.Token(); got != "" {
		t.Errorf("Token() after Close = %q, want empty", got)
	}
	for _, s := range []string{tok, ""} {
		if g.Valid(s) {
			t.Errorf("Valid(%q) after Close = true, want false", s)
		}
	}
	g.Close() // idempotent
}

func TestSetupGateConcurrentClose(t *testing.T) {
	g := NewSetupGate()
	tok := g.Token()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { g.Valid(tok) })
		wg.Go(func() { g.Token() })
	}
	wg.Go(g.Close)
	wg.Wait()
	if g.Valid(tok) {
		t.Error("Valid(token) after a concurrent Close = true, want false")
	}
}
