// Package gateway serves the agent-facing HTTP endpoints: enrollment and
// the WebSocket control channel. Agents are untrusted: every body is
// size-limited and validated, and credential failures never say how close
// a guess was.
package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Gateway holds the agent endpoints' dependencies.
type Gateway struct {
	db         *store.DB
	hub        *hub.Hub
	log        *slog.Logger
	trustProxy bool
	// enrollLimiter slows down guessing of enrollment tokens per IP.
	enrollLimiter *access.Limiter
	// authLimiter slows down guessing of agent secrets per IP.
	authLimiter *access.Limiter
}

// New returns a Gateway.
func New(db *store.DB, h *hub.Hub, log *slog.Logger, trustProxy bool) *Gateway {
	return &Gateway{
		db: db, hub: h, log: log, trustProxy: trustProxy,
		enrollLimiter: access.NewLimiter(30, 10*time.Minute),
		authLimiter:   access.NewLimiter(60, 10*time.Minute),
	}
}

// Register adds the gateway routes to mux.
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+protocol.EnrollPath, g.enroll)
	mux.HandleFunc("GET "+protocol.ConnectPath, g.connect)
}

func (g *Gateway) enroll(w http.ResponseWriter, r *http.Request) {
	ip := access.ClientIP(r, g.trustProxy)
	if ok, wait := g.enrollLimiter.Allow(ip); !ok {
		g.hub.CountRejected("enroll_rate_limited")
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "too many failed enrollment attempts; try again later")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxEnrollBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		g.hub.CountRejected("enroll_too_large")
		writeError(w, http.StatusRequestEntityTooLarge, "enrollment request is larger than 64 KiB")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "read enrollment request: "+err.Error())
		return
	}
	req, err := protocol.DecodeEnrollRequest(body)
	if err != nil {
		g.hub.CountRejected("enroll_bad_request")
		g.log.Info("enrollment rejected", "ip", ip, "reason", err)
		writeError(w, http.StatusBadRequest, "invalid enrollment request: "+err.Error())
		return
	}
	secret := auth.NewSecret("")
	agent, err := g.db.Enroll(r.Context(), auth.HashSecret(req.Token), store.NewAgent{
		SecretHash: auth.HashSecret(secret), Facts: req.Facts, IP: ip,
	})
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, store.ErrTokenUnknown):
			status = http.StatusUnauthorized
		case errors.Is(err, store.ErrTokenExpired), errors.Is(err, store.ErrTokenRevoked), errors.Is(err, store.ErrTokenUsedUp):
			status = http.StatusForbidden
		}
		if status == http.StatusInternalServerError {
			g.log.Error("enroll agent", "ip", ip, "err", err)
			writeError(w, status, "enrollment failed because of a server error")
			return
		}
		g.enrollLimiter.Fail(ip)
		g.hub.CountRejected("enroll_token")
		g.log.Info("enrollment rejected", "ip", ip, "hostname", req.Facts.Hostname, "reason", err)
		writeError(w, status, err.Error())
		return
	}
	g.log.Info("agent enrolled", "agent_id", agent.ID, "hostname", agent.Hostname, "site_id", agent.SiteID, "ip", ip)
	writeJSON(w, http.StatusOK, protocol.EnrollResponse{AgentID: agent.ID, AgentSecret: secret})
}

func (g *Gateway) connect(w http.ResponseWriter, r *http.Request) {
	ip := access.ClientIP(r, g.trustProxy)
	// Throttle per address and claimed agent, so a few agents with stale
	// credentials behind one office NAT cannot lock out the rest.
	claimed, _, _ := protocol.ParseCredential(r.Header.Get("Authorization"))
	limitKey := ip + "/" + claimed
	if ok, wait := g.authLimiter.Allow(limitKey); !ok {
		g.hub.CountRejected("auth_rate_limited")
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "too many failed agent authentications; try again later")
		return
	}
	agent, ok, err := g.authenticate(r)
	if err != nil {
		g.log.Error("authenticate agent", "ip", ip, "err", err)
		writeError(w, http.StatusInternalServerError, "server error while checking agent credentials")
		return
	}
	if !ok {
		g.authLimiter.Fail(limitKey)
		g.hub.CountRejected("auth")
		g.log.Info("agent authentication failed", "ip", ip)
		writeError(w, http.StatusUnauthorized, "invalid agent credentials")
		return
	}
	if !sameOrigin(r) {
		g.hub.CountRejected("cross_origin")
		writeError(w, http.StatusForbidden, "cross-origin WebSocket requests are not accepted")
		return
	}
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		// The upgrader already answered with an HTTP error.
		if conn != nil {
			conn.Close()
		}
		g.log.Info("agent websocket upgrade failed", "agent_id", agent.ID, "err", err)
		return
	}
	// net/http's 4 KiB buffers go with this handler; only bytes the agent
	// sent right behind the handshake are kept.
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		early = bytes.Clone(b)
	}
	// The hub serves the connection on a goroutine of its own, so this
	// handler's goroutine, its stack grown by request parsing, can end.
	g.hub.Go(conn, early, agent, ip)
}

// sameOrigin refuses WebSocket requests a browser sends from another
// site's page. Agents send no Origin.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// authenticate checks the Authorization header. An unknown agent and a
// wrong secret take the same path and time and get the same answer; only a
// database failure is an error.
func (g *Gateway) authenticate(r *http.Request) (store.Agent, bool, error) {
	id, secret, ok := protocol.ParseCredential(r.Header.Get("Authorization"))
	if !ok {
		return store.Agent{}, false, nil
	}
	cred, err := g.db.AgentCredential(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		auth.SecretMatches(secret, unknownAgentHash)
		return store.Agent{}, false, nil
	}
	if err != nil {
		return store.Agent{}, false, err
	}
	if !auth.SecretMatches(secret, cred.SecretHash) {
		return store.Agent{}, false, nil
	}
	return store.Agent{ID: cred.AgentID, ClientID: cred.ClientID, SiteID: cred.SiteID, PolicyRevision: cred.PolicyRevision}, true, nil
}

// unknownAgentHash is compared against for unknown agent IDs so they cost
// the same as a wrong secret.
const unknownAgentHash = "0000000000000000000000000000000000000000000000000000000000000000"

func retryAfter(d time.Duration) string {
	s := int(d.Seconds()) + 1
	return strconv.Itoa(s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, protocol.ErrorResponse{Error: msg})
}
