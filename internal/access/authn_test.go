package access

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestClientIP(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		xff        string
		trustProxy bool
		want       string
	}{
		{name: "ipv4 peer", remoteAddr: "192.0.2.10:5555", want: "192.0.2.10"},
		{name: "ipv6 peer", remoteAddr: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "no port", remoteAddr: "192.0.2.10", want: "192.0.2.10"},
		{name: "untrusted XFF ignored", remoteAddr: "192.0.2.10:5555", xff: "203.0.113.9", want: "192.0.2.10"},
		{name: "trusted XFF", remoteAddr: "10.0.0.1:5555", xff: "203.0.113.9", trustProxy: true, want: "203.0.113.9"},
		// The proxy appends what it saw; a client-supplied first hop is
		// not believed.
		{name: "trusted XFF last hop", remoteAddr: "10.0.0.1:5555", xff: " 6.6.6.6 , 203.0.113.9", trustProxy: true, want: "203.0.113.9"},
		{name: "trusted XFF ipv6 normalised", remoteAddr: "10.0.0.1:5555", xff: "2001:DB8:0:0::7", trustProxy: true, want: "2001:db8::7"},
		{name: "trusted XFF garbage falls back to peer", remoteAddr: "10.0.0.1:5555", xff: "evil<script>", trustProxy: true, want: "10.0.0.1"},
		{name: "trusted XFF with port falls back to peer", remoteAddr: "10.0.0.1:5555", xff: "203.0.113.9:80", trustProxy: true, want: "10.0.0.1"},
		{name: "trusted without XFF", remoteAddr: "10.0.0.1:5555", trustProxy: true, want: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remoteAddr
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := ClientIP(r, tt.trustProxy); got != tt.want {
				t.Errorf("ClientIP(remote %q, XFF %q, trust %v) = %q, want %q", tt.remoteAddr, tt.xff, tt.trustProxy, got, tt.want)
			}
			a := NewAuthenticator(nil, discardLogger(), tt.trustProxy)
			if got := a.ClientIP(r); got != tt.want {
				t.Errorf("Authenticator.ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsTLS(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		proto      string
		trustProxy bool
		want       bool
	}{
		{name: "plain", want: false},
		{name: "direct TLS", tls: true, want: true},
		{name: "direct TLS ignores proxy setting", tls: true, trustProxy: true, want: true},
		{name: "untrusted proto header", proto: "https", want: false},
		{name: "trusted proto header", proto: "https", trustProxy: true, want: true},
		{name: "trusted proto header any case", proto: "HTTPS", trustProxy: true, want: true},
		{name: "trusted http proto", proto: "http", trustProxy: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if got := IsTLS(r, tt.trustProxy); got != tt.want {
				t.Errorf("IsTLS = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuthenticator(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		// Authentication never checks passwords, so a fake hash will do.
		alice, err := db.CreateUser(ctx, "alice@example.com", "not-a-real-hash", store.RoleTechnician)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		token := auth.NewSecret(auth.PrefixAPIToken)
		apiToken, err := db.CreateAPIToken(ctx, alice.ID, "ci", auth.HashSecret(token))
		if err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		a := NewAuthenticator(db, discardLogger(), false)

		t.Run("APIToken", func(t *testing.T) {
			for _, h := range []string{"Bearer " + token, "bearer " + token, "BEARER  " + token + " "} {
				r := httptest.NewRequest("GET", "/api/v1/me", nil)
				r.RemoteAddr = "192.0.2.5:1234"
				r.Header.Set("Authorization", h)
				p, err := a.Authenticate(r)
				if err != nil {
					t.Fatalf("Authenticate(%q): %v", h, err)
				}
				if p.User.ID != alice.ID || p.User.Role != store.RoleTechnician || p.Via != "api_token" || p.TokenID != apiToken.ID || p.IP != "192.0.2.5" {
					t.Errorf("Authenticate(%q) = %+v, want alice via api_token %s from 192.0.2.5", h, p, apiToken.ID)
				}
			}
		})

		t.Run("BadAuthorizationHeader", func(t *testing.T) {
			for _, h := range []string{
				"Bearer " + token + "x",
				"Bearer stw_nope",
				"Bearer",
				"Bearer ",
				"Bearer    ",
				"Basic " + token,
				"Token " + token,
				token,
			} {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", h)
				if p, err := a.Authenticate(r); !errors.Is(err, ErrUnauthenticated) {
					t.Errorf("Authenticate(Authorization: %q) = %+v, %v; want ErrUnauthenticated", h, p, err)
				}
			}
		})

		t.Run("NoCredentials", func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if _, err := a.Authenticate(r); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate(no credentials) error = %v, want ErrUnauthenticated", err)
			}
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "unknown-session"})
			if _, err := a.Authenticate(r); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate(unknown session) error = %v, want ErrUnauthenticated", err)
			}
		})

		t.Run("Session", func(t *testing.T) {
			r := httptest.NewRequest("POST", "/login", nil)
			r.RemoteAddr = "198.51.100.4:999"
			r.Header.Set("User-Agent", strings.Repeat("u", 300))
			w := httptest.NewRecorder()
			before := time.Now()
			if err := a.StartSession(ctx, w, r, alice); err != nil {
				t.Fatalf("StartSession: %v", err)
			}
			c := onlyCookie(t, w.Result())
			if c.Name != sessionCookie || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
				c.MaxAge != int(SessionLifetime/time.Second) || len(c.Value) < 40 {
				t.Errorf("session cookie = %+v, want HttpOnly, not Secure, SameSite=Lax, Path=/, MaxAge %d, a long random value",
					c, int(SessionLifetime/time.Second))
			}

			u, s, err := db.SessionUser(ctx, auth.HashSecret(c.Value))
			if err != nil {
				t.Fatalf("SessionUser(cookie hash): %v", err)
			}
			if u.ID != alice.ID || s.IP != "198.51.100.4" || len(s.UserAgent) != 256 {
				t.Errorf("stored session = user %s, IP %q, user agent of %d bytes; want %s, 198.51.100.4, 256 bytes", u.ID, s.IP, len(s.UserAgent), alice.ID)
			}
			if lo, hi := before.Add(SessionLifetime-time.Second), time.Now().Add(SessionLifetime+time.Second); s.ExpiresAt.Before(lo) || s.ExpiresAt.After(hi) {
				t.Errorf("session expires at %v, want about %v from now", s.ExpiresAt, SessionLifetime)
			}

			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "198.51.100.4:1000"
			req.AddCookie(c)
			p, err := a.Authenticate(req)
			if err != nil {
				t.Fatalf("Authenticate(session cookie): %v", err)
			}
			if p.User.ID != alice.ID || p.Via != "session" || p.SessionHash != auth.HashSecret(c.Value) || p.IP != "198.51.100.4" {
				t.Errorf("Authenticate(session cookie) = %+v, want alice via session", p)
			}

			// Logout deletes the session and clears the cookie.
			w = httptest.NewRecorder()
			if err := a.EndSession(ctx, w, req); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
			cleared := onlyCookie(t, w.Result())
			if cleared.Name != sessionCookie || cleared.Value != "" || cleared.MaxAge >= 0 {
				t.Errorf("cookie after EndSession = %+v, want %s emptied with a negative MaxAge", cleared, sessionCookie)
			}
			if _, err := a.Authenticate(req); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate after EndSession: error = %v, want ErrUnauthenticated", err)
			}
			// Ending a session that is already gone still clears the cookie.
			w = httptest.NewRecorder()
			if err := a.EndSession(ctx, w, httptest.NewRequest("POST", "/logout", nil)); err != nil {
				t.Errorf("EndSession without a cookie: %v", err)
			}
			if got := len(w.Result().Cookies()); got != 1 {
				t.Errorf("EndSession without a cookie set %d cookies, want 1", got)
			}
		})

		t.Run("SecureSessionCookie", func(t *testing.T) {
			tests := []struct {
				name       string
				trustProxy bool
				tls        bool
				proto      string
			}{
				{name: "direct TLS", tls: true},
				{name: "trusted proxy", trustProxy: true, proto: "https"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					a := NewAuthenticator(db, discardLogger(), tt.trustProxy)
					r := httptest.NewRequest("POST", "/login", nil)
					if tt.tls {
						r.TLS = &tls.ConnectionState{}
					}
					if tt.proto != "" {
						r.Header.Set("X-Forwarded-Proto", tt.proto)
					}
					w := httptest.NewRecorder()
					if err := a.StartSession(ctx, w, r, alice); err != nil {
						t.Fatalf("StartSession: %v", err)
					}
					c := onlyCookie(t, w.Result())
					if c.Name != secureSessionCookie || !c.Secure || c.Path != "/" {
						t.Errorf("cookie = %+v, want %s, Secure, Path=/", c, secureSessionCookie)
					}
					req := httptest.NewRequest("GET", "/", nil)
					req.AddCookie(c)
					if p, err := a.Authenticate(req); err != nil || p.User.ID != alice.ID {
						t.Errorf("Authenticate(%s cookie) = %+v, %v; want alice", secureSessionCookie, p, err)
					}
				})
			}
			// Without trusting the proxy, its header is ignored.
			r := httptest.NewRequest("POST", "/login", nil)
			r.Header.Set("X-Forwarded-Proto", "https")
			w := httptest.NewRecorder()
			if err := a.StartSession(ctx, w, r, alice); err != nil {
				t.Fatalf("StartSession: %v", err)
			}
			if c := onlyCookie(t, w.Result()); c.Name != sessionCookie || c.Secure {
				t.Errorf("cookie behind an untrusted proxy = %+v, want %s, not Secure", c, sessionCookie)
			}
		})

		t.Run("ExpiredSession", func(t *testing.T) {
			id := auth.NewSecret("")
			past := time.Now().Add(-time.Minute)
			if err := db.CreateSession(ctx, store.Session{
				IDHash: auth.HashSecret(id), UserID: alice.ID, CreatedAt: past.Add(-SessionLifetime), ExpiresAt: past,
			}); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
			if p, err := a.Authenticate(r); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate(expired session) = %+v, %v; want ErrUnauthenticated", p, err)
			}
		})

		t.Run("AuthorizationHeaderWinsOverCookie", func(t *testing.T) {
			// A request that presents a token is judged by the token alone,
			// so a bad token is not rescued by a browser's cookie.
			r := httptest.NewRequest("POST", "/login", nil)
			w := httptest.NewRecorder()
			if err := a.StartSession(ctx, w, r, alice); err != nil {
				t.Fatalf("StartSession: %v", err)
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(onlyCookie(t, w.Result()))
			req.Header.Set("Authorization", "Bearer stw_wrong")
			if _, err := a.Authenticate(req); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate(bad token + good cookie) error = %v, want ErrUnauthenticated", err)
			}
		})
	})
}

func onlyCookie(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	cs := res.Cookies()
	if len(cs) != 1 {
		t.Fatalf("response set %d cookies, want 1: %v", len(cs), cs)
	}
	return cs[0]
}
