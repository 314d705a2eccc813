// Package gateway serves the agent-facing HTTP endpoints: enrollment, the
// WebSocket control channel and inventory uploads. Agents are untrusted: every body is
// size-limited and validated, and credential failures never say how close
// a guess was.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Gateway holds the agent endpoints' dependencies.
type Gateway struct {
	db         *store.DB
	hub        *hub.Hub
	inventory  *inventory.Service
	log        *slog.Logger
	trustProxy bool
	// enrollLimiter slows down guessing of enrollment tokens per IP.
	enrollLimiter *access.Limiter
	// authLimiter slows down guessing of agent secrets per IP.
	authLimiter *access.Limiter
	// uploadLimiter bounds inventory uploads per agent: each costs a
	// transaction over thousands of rows, and an agent in a restart loop
	// or a compromised one must not keep the database busy.
	uploadLimiter *access.Limiter
	// machines records uninstalls and watchdog reports; nil leaves their
	// endpoints out.
	machines Machines
	// watchdogLimiter bounds watchdog reports per agent: a watchdog
	// reports changes, not a stream, and one in a loop must not keep the
	// database busy.
	watchdogLimiter *access.Limiter
	// downloads bounds the release downloads served at once.
	downloads chan struct{}
	// relay takes agents' session connections; nil leaves the relay
	// endpoint out.
	relay Relay
}

// Relay takes an authenticated agent's side of a remote session (a
// relay.Relay).
type Relay interface {
	ServeAgent(w http.ResponseWriter, r *http.Request, agentID, sessionID, token string)
}

// SetRelay installs the session relay; call it before Register.
func (g *Gateway) SetRelay(rl Relay) { g.relay = rl }

// Machines records what the agent's life on a machine tells the server
// outside the control channel. The alerting service implements it.
type Machines interface {
	// Uninstall marks the agent uninstalled (idempotent) and returns when.
	Uninstall(ctx context.Context, agentID, reason, ip string) (store.Uninstalled, error)
	// Watchdog stores a watchdog report and raises or clears the alerts of
	// the services it watches.
	Watchdog(ctx context.Context, agentID, clientID, siteID string, r protocol.WatchdogReport) error
}

// Inventory uploads allowed per agent and window on one replica: far above
// start, schedule and a technician's refreshes.
const (
	maxUploads   = 20
	uploadWindow = time.Hour
)

// Watchdog reports allowed per agent and window on one replica: a report
// on every change of a flapping service every 30 s interval fits.
const (
	maxWatchdogReports = 120
	watchdogWindow     = time.Hour
)

// New returns a Gateway.
func New(db *store.DB, h *hub.Hub, log *slog.Logger, trustProxy bool) *Gateway {
	return &Gateway{
		db: db, hub: h, inventory: inventory.New(db, log), log: log, trustProxy: trustProxy,
		enrollLimiter:   access.NewLimiter(30, 10*time.Minute),
		authLimiter:     access.NewLimiter(60, 10*time.Minute),
		uploadLimiter:   access.NewLimiter(maxUploads, uploadWindow),
		watchdogLimiter: access.NewLimiter(maxWatchdogReports, watchdogWindow),
		downloads:       make(chan struct{}, DefaultMaxDownloads),
	}
}

// SetMachines installs what records uninstalls and watchdog reports; call
// it before Register, which adds their endpoints only then.
func (g *Gateway) SetMachines(m Machines) { g.machines = m }

// Register adds the gateway routes to mux. Everything else under
// /agent/ is answered here in JSON, as agents and scripts expect: 405 with
// Allow for a known path called with another method, 404 otherwise, rather
// than the dashboard's pages.
func (g *Gateway) Register(mux *http.ServeMux) {
	type route struct {
		method, path string
		h            http.HandlerFunc
	}
	routes := []route{
		{"POST", protocol.EnrollPath, g.enroll},
		{"GET", protocol.ConnectPath, g.connect},
		{"POST", protocol.InventoryPath, g.uploadInventory},
		{"GET", protocol.ReleaseFilePath + "{id}", g.downloadRelease},
	}
	if g.machines != nil {
		routes = append(routes, route{"POST", protocol.UninstallPath, g.uninstall}, route{"POST", protocol.WatchdogPath, g.watchdog})
	}
	if g.relay != nil {
		routes = append(routes, route{"GET", protocol.RelayPath + "{session}", g.relayConnect})
	}
	allow := map[string]string{}
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, rt.h)
		allow[rt.path] = rt.method
	}
	mux.HandleFunc("/agent/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := allow[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+m)
			return
		}
		writeError(w, http.StatusNotFound, "no such agent endpoint: "+r.Method+" "+r.URL.Path)
	})
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
		if status == http.StatusInternalServerError && abandoned(r) {
			g.log.Info("enrollment abandoned by the agent", "ip", ip, "err", err)
			return
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
	agent, ok := g.authorizeWebSocket(w, r)
	if !ok {
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
	g.hub.Go(conn, early, agent, access.ClientIP(r, g.trustProxy))
}

// relayConnect is an agent's data connection for a remote session: the
// agent credential and the session's single-use token must both hold.
func (g *Gateway) relayConnect(w http.ResponseWriter, r *http.Request) {
	agent, ok := g.authorizeWebSocket(w, r)
	if !ok {
		return
	}
	g.relay.ServeAgent(w, r, agent.ID, r.PathValue("session"), r.Header.Get(protocol.RelayTokenHeader))
}

// authorizeWebSocket authenticates an installed agent's WebSocket
// request and refuses one a browser sends from another site's page; it
// answers the request when it fails.
func (g *Gateway) authorizeWebSocket(w http.ResponseWriter, r *http.Request) (store.Agent, bool) {
	agent, ok := g.authorizeInstalled(w, r, access.ClientIP(r, g.trustProxy))
	if !ok {
		return store.Agent{}, false
	}
	if !sameOrigin(r) {
		g.hub.CountRejected("cross_origin")
		writeError(w, http.StatusForbidden, "cross-origin WebSocket requests are not accepted")
		return store.Agent{}, false
	}
	return agent, true
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

// authorize authenticates an agent request, throttling failures, and
// answers it with an error when it fails.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request, ip string) (store.Agent, bool) {
	// Throttle per address and claimed agent, so a few agents with stale
	// credentials behind one office NAT cannot lock out the rest.
	claimed, _, _ := protocol.ParseCredential(r.Header.Get("Authorization"))
	limitKey := ip + "/" + claimed
	if ok, wait := g.authLimiter.Allow(limitKey); !ok {
		g.hub.CountRejected("auth_rate_limited")
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "too many failed agent authentications; try again later")
		return store.Agent{}, false
	}
	agent, ok, err := g.authenticate(r)
	if err != nil && abandoned(r) {
		g.log.Info("agent abandoned its request during authentication", "ip", ip, "path", r.URL.Path)
		return store.Agent{}, false
	}
	if err != nil {
		g.log.Error("authenticate agent", "ip", ip, "err", err)
		writeError(w, http.StatusInternalServerError, "server error while checking agent credentials")
		return store.Agent{}, false
	}
	if !ok {
		g.authLimiter.Fail(limitKey)
		g.hub.CountRejected("auth")
		g.log.Info("agent authentication failed", "ip", ip)
		writeError(w, http.StatusUnauthorized, "invalid agent credentials")
		return store.Agent{}, false
	}
	return agent, true
}

// authorizeInstalled is authorize for the endpoints of an installed agent:
// the credentials of one that was uninstalled are refused with 403 and a
// message that says why, so that a copy of the agent left running (or a
// restored backup) stops and its operator knows to enroll it again.
func (g *Gateway) authorizeInstalled(w http.ResponseWriter, r *http.Request, ip string) (store.Agent, bool) {
	agent, ok := g.authorize(w, r, ip)
	if !ok || !agent.Uninstalled() {
		return agent, ok
	}
	g.hub.CountRejected("uninstalled")
	g.log.Info("uninstalled agent refused", "agent_id", agent.ID, "ip", ip, "path", r.URL.Path)
	writeError(w, http.StatusForbidden, "this agent was uninstalled at "+agent.UninstalledAt.UTC().Format(time.RFC3339)+
		"; its credentials are no longer accepted: install and enroll it again")
	return store.Agent{}, false
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
	return store.Agent{ID: cred.AgentID, ClientID: cred.ClientID, SiteID: cred.SiteID, PolicyRevision: cred.PolicyRevision,
		UninstalledAt: cred.UninstalledAt}, true, nil
}

// unknownAgentHash is compared against for unknown agent IDs so they cost
// the same as a wrong secret.
const unknownAgentHash = "0000000000000000000000000000000000000000000000000000000000000000"

// uploadInventory stores an agent's inventory report (see
// protocol.InventoryPath) and answers 204 once it and its changes are
// stored.
func (g *Gateway) uploadInventory(w http.ResponseWriter, r *http.Request) {
	ip := access.ClientIP(r, g.trustProxy)
	agent, ok := g.authorizeInstalled(w, r, ip)
	if !ok {
		return
	}
	reject := func(status int, reason, msg string) {
		g.hub.CountRejected(reason)
		g.log.Info("inventory rejected", "agent_id", agent.ID, "ip", ip, "reason", msg)
		writeError(w, status, msg)
	}
	// Every upload counts, stored or refused, so a broken agent that
	// keeps sending a bad report is slowed down too.
	if ok, wait := g.uploadLimiter.Allow(agent.ID); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		reject(http.StatusTooManyRequests, "inventory_rate_limited",
			fmt.Sprintf("more than %d inventory uploads in %v; try again later", maxUploads, uploadWindow))
		return
	}
	g.uploadLimiter.Fail(agent.ID)
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		reject(http.StatusUnsupportedMediaType, "inventory_content_type", "Content-Type must be application/json")
		return
	}
	var gzipped bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "":
	case "gzip":
		gzipped = true
	default:
		reject(http.StatusUnsupportedMediaType, "inventory_content_type", "Content-Encoding must be gzip or absent")
		return
	}
	tooLarge := fmt.Sprintf("inventory is larger than %d bytes (%d compressed)", protocol.MaxInventoryBytes, protocol.MaxInventoryCompressedBytes)
	if r.ContentLength > protocol.MaxInventoryCompressedBytes {
		reject(http.StatusRequestEntityTooLarge, "inventory_too_large", tooLarge)
		return
	}
	inv, err := protocol.DecodeInventoryBody(http.MaxBytesReader(w, r.Body, protocol.MaxInventoryCompressedBytes), gzipped)
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, protocol.ErrTooLarge), errors.As(err, &maxBytes):
		reject(http.StatusRequestEntityTooLarge, "inventory_too_large", tooLarge)
		return
	case err != nil:
		reject(http.StatusBadRequest, "inventory_bad_request", "invalid inventory: "+err.Error())
		return
	}
	res, err := g.inventory.Ingest(r.Context(), agent.ID, inv)
	if err != nil && abandoned(r) {
		// The agent gave up (its upload deadline) and sends the report again.
		g.log.Info("inventory upload abandoned by the agent", "agent_id", agent.ID, "err", err)
		return
	}
	if err != nil {
		g.log.Error("store inventory", "agent_id", agent.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "inventory not stored because of a server error")
		return
	}
	g.log.Debug("inventory stored", "agent_id", agent.ID, "reason", inv.Reason, "software", res.Software,
		"changes", res.Changes, "stale", res.Stale)
	w.WriteHeader(http.StatusNoContent)
}

func retryAfter(d time.Duration) string {
	s := int(d.Seconds()) + 1
	return strconv.Itoa(s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// abandoned reports whether the agent hung up on r: an error that follows
// is not the server's, and nobody reads the answer.
func abandoned(r *http.Request) bool { return r.Context().Err() != nil }

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, protocol.ErrorResponse{Error: msg})
}
