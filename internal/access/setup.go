package access

import (
	"crypto/subtle"
	"sync"

	"github.com/steward-rmm/steward/internal/auth"
)

// SetupGate holds the one-time token of the first-run setup link. It lives
// only in the memory of the server process that printed it; once a user
// exists the setup routes refuse every request whatever the token.
type SetupGate struct {
	mu    sync.Mutex
	token string
}

// NewSetupGate returns a gate with a fresh random token.
func NewSetupGate() *SetupGate {
	return &SetupGate{token: auth.NewSecret(auth.PrefixSetup)}
}

// Token returns the token, or "" once closed.
func (g *SetupGate) Token() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token
}

// Valid reports whether tok is the open setup token.
func (g *SetupGate) Valid(tok string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(g.token)) == 1
}

// Close makes the token invalid forever.
func (g *SetupGate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.token = ""
}
