package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/store"
)

// Cookie names. With TLS the session cookie takes the __Host- prefix, which
// browsers only accept from a secure origin for the whole host.
const (
	sessionCookie       = "steward_session"
	secureSessionCookie = "__Host-steward_session"
)

// SessionLifetime is how long a dashboard login lasts.
const SessionLifetime = 12 * time.Hour

// Authenticator turns request credentials into a Principal.
type Authenticator struct {
	db  *store.DB
	log *slog.Logger
	// TrustProxy makes ClientIP honour X-Forwarded-For.
	trustProxy bool
}

// NewAuthenticator returns an Authenticator over db.
func NewAuthenticator(db *store.DB, log *slog.Logger, trustProxy bool) *Authenticator {
	return &Authenticator{db: db, log: log, trustProxy: trustProxy}
}

// ErrUnauthenticated means no valid credentials were presented.
var ErrUnauthenticated = errors.New("authentication required")

// Authenticate reads a Bearer API token or a session cookie.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	ip := a.ClientIP(r)
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return Principal{}, fmt.Errorf("%w: malformed Authorization header", ErrUnauthenticated)
		}
		u, t, err := a.db.APITokenUser(r.Context(), auth.HashSecret(strings.TrimSpace(tok)))
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, fmt.Errorf("%w: invalid API token", ErrUnauthenticated)
		}
		if err != nil {
			return Principal{}, err
		}
		return Principal{User: u, Via: "api_token", TokenID: t.ID, IP: ip}, nil
	}
	c, err := sessionCookieOf(r)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	hash := auth.HashSecret(c)
	u, _, err := a.db.SessionUser(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: session expired", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: u, Via: "session", SessionHash: hash, IP: ip}, nil
}

func sessionCookieOf(r *http.Request) (string, error) {
	for _, name := range []string{secureSessionCookie, sessionCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", http.ErrNoCookie
}

// StartSession creates a session for u and sets its cookie.
func (a *Authenticator) StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) error {
	id := auth.NewSecret("")
	now := time.Now()
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	ip := a.ClientIP(r)
	// The session and its audit entry are stored together: every sign-in
	// is in the audit log, or none happened.
	err := a.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateSession(ctx, store.Session{
			IDHash: auth.HashSecret(id), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(SessionLifetime),
			IP: ip, UserAgent: ua,
		}); err != nil {
			return err
		}
		return tx.AddAudit(ctx, store.AuditEntry{
			ActorType: "user", ActorID: u.ID, ActorName: u.Email, Action: "user.sign_in",
			TargetType: "user", TargetID: u.ID, Detail: map[string]string{"user_agent": ua}, IP: ip,
		})
	})
	if err != nil {
		return fmt.Errorf("start session of %s: %w", u.ID, err)
	}
	http.SetCookie(w, a.cookie(r, id, int(SessionLifetime/time.Second)))
	return nil
}

// EndSession deletes the caller's session and clears the cookie.
func (a *Authenticator) EndSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if c, err := sessionCookieOf(r); err == nil {
		if err := a.db.DeleteSession(ctx, auth.HashSecret(c)); err != nil {
			return err
		}
	}
	http.SetCookie(w, a.cookie(r, "", -1))
	return nil
}

func (a *Authenticator) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	secure := IsTLS(r, a.trustProxy)
	name := sessionCookie
	if secure {
		name = secureSessionCookie
	}
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}
}

// IsTLS reports whether the browser reached us over HTTPS.
func IsTLS(r *http.Request, trustProxy bool) bool {
	if r.TLS != nil {
		return true
	}
	return trustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// ClientIP returns the caller's IP address.
func (a *Authenticator) ClientIP(r *http.Request) string {
	return ClientIP(r, a.trustProxy)
}

// ClientIP returns the caller's address: the connection's peer, or the
// last X-Forwarded-For hop (the one the proxy added) when the server sits
// behind a trusted proxy.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		// The trusted proxy appends the address it saw; anything before
		// that came from the client and proves nothing.
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			hops := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(hops[len(hops)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
