// Package api serves the JSON API under /api/v1 for scripts and
// integrations. Callers authenticate with "Authorization: Bearer <token>"
// or a dashboard session (then unsafe methods need the CSRF token too).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/alerting"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/timeseries"
	"github.com/steward-rmm/steward/internal/updates"
)

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 1 << 20

// Config holds the API's dependencies.
type Config struct {
	DB       *store.DB
	Manage   *manage.Service
	Policies *effective.Policies
	Commands *command.Service
	Series   *timeseries.Store
	Notify   *notify.Service
	// Alerts acknowledges and resolves alerts by hand.
	Alerts *alerting.Service
	Auth   *access.Authenticator
	// ReleaseKeys are the release public keys a published release must be
	// signed with.
	ReleaseKeys []protocol.ReleaseKey
	// Updates offers updates to agents.
	Updates *updates.Service
	// Jobs runs scripts and keeps the script library.
	Jobs    *jobs.Service
	Log     *slog.Logger
	Version string
	Started time.Time
	// RequestTimeout bounds each request, so that a hung database fails
	// requests instead of piling them up; zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout bounds an API request when Config sets none.
const DefaultRequestTimeout = 30 * time.Second

// API serves /api/v1.
type API struct {
	cfg Config
}

// New returns an API.
func New(cfg Config) *API { return &API{cfg: cfg} }

// handlerFunc is an API handler that returns an error for the single
// error-mapping point in serve.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p access.Principal) error

// Register adds the API routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	routes := map[string]handlerFunc{
		"GET /api/v1/status":                                a.status,
		"GET /api/v1/me":                                    a.me,
		"GET /api/v1/clients":                               a.listClients,
		"POST /api/v1/clients":                              a.createClient,
		"GET /api/v1/clients/{id}":                          a.getClient,
		"GET /api/v1/clients/{id}/sites":                    a.listSites,
		"POST /api/v1/clients/{id}/sites":                   a.createSite,
		"GET /api/v1/sites/{id}":                            a.getSite,
		"GET /api/v1/sites/{id}/enrollment-tokens":          a.listTokens,
		"POST /api/v1/sites/{id}/enrollment-tokens":         a.createToken,
		"POST /api/v1/enrollment-tokens/{id}/revoke":        a.revokeToken,
		"GET /api/v1/agents":                                a.listAgents,
		"GET /api/v1/agents/{id}":                           a.getAgent,
		"DELETE /api/v1/agents/{id}":                        a.deleteAgent,
		"GET /api/v1/audit":                                 a.listAudit,
		"POST /api/v1/agents/{id}/commands":                 a.createAgentCommand,
		"GET /api/v1/agents/{id}/commands":                  a.listAgentCommands,
		"POST /api/v1/commands":                             a.createCommands,
		"GET /api/v1/commands/{id}":                         a.getCommand,
		"GET /api/v1/command-batches/{id}":                  a.getCommandBatch,
		"GET /api/v1/policies":                              a.listPolicies,
		"POST /api/v1/policies":                             a.createPolicy,
		"GET /api/v1/policies/{id}":                         a.getPolicy,
		"PUT /api/v1/policies/{id}":                         a.updatePolicy,
		"DELETE /api/v1/policies/{id}":                      a.deletePolicy,
		"GET /api/v1/policy-assignments":                    a.listAssignments,
		"PUT /api/v1/policy-assignments":                    a.assignPolicy,
		"DELETE /api/v1/policy-assignments":                 a.unassignPolicy,
		"GET /api/v1/agents/{id}/effective-policy":          a.effectivePolicy,
		"GET /api/v1/agents/{id}/metrics":                   a.agentMetrics,
		"GET /api/v1/agents/{id}/inventory":                 a.agentInventory,
		"GET /api/v1/agents/{id}/inventory/history":         a.agentInventoryHistory,
		"GET /api/v1/software":                              a.searchSoftware,
		"GET /api/v1/alerts":                                a.listAlerts,
		"POST /api/v1/alerts/{id}/acknowledge":              a.acknowledgeAlert,
		"POST /api/v1/alerts/{id}/resolve":                  a.resolveAlert,
		"POST /api/v1/alerts/acknowledge":                   a.acknowledgeAlerts,
		"POST /api/v1/alerts/resolve":                       a.resolveAlerts,
		"GET /api/v1/notification-channels":                 a.listChannels,
		"POST /api/v1/notification-channels":                a.createChannel,
		"GET /api/v1/notification-channels/{id}":            a.getChannel,
		"PUT /api/v1/notification-channels/{id}":            a.updateChannel,
		"DELETE /api/v1/notification-channels/{id}":         a.deleteChannel,
		"GET /api/v1/notification-channels/{id}/deliveries": a.channelDeliveries,
		"POST /api/v1/notification-channels/{id}/test":      a.testChannel,
		"GET /api/v1/maintenance-windows":                   a.listMaintenance,
		"POST /api/v1/maintenance-windows":                  a.startMaintenance,
		"DELETE /api/v1/maintenance-windows/{id}":           a.endMaintenance,
		"GET /api/v1/settings/smtp":                         a.getSMTP,
		"PUT /api/v1/settings/smtp":                         a.putSMTP,
		"POST /api/v1/settings/smtp/test":                   a.testSMTP,
		"GET /api/v1/releases":                              a.listReleases,
		"POST /api/v1/releases":                             a.publishRelease,
		"GET /api/v1/releases/{id}":                         a.getRelease,
		"PATCH /api/v1/clients/{id}/channel":                a.setChannel(store.LevelClient),
		"PATCH /api/v1/sites/{id}/channel":                  a.setChannel(store.LevelSite),
		"PATCH /api/v1/agents/{id}/channel":                 a.setChannel(store.LevelAgent),
		"GET /api/v1/agents/{id}/effective-channel":         a.effectiveChannel,
		"POST /api/v1/agents/{id}/update":                   a.updateAgent,
		"POST /api/v1/updates":                              a.updateNow,
		"GET /api/v1/agents/{id}/updates":                   a.agentUpdates,
		"GET /api/v1/releases/{id}/agents":                  a.releaseAgents,
		"POST /api/v1/releases/{id}/halt":                   a.setReleaseStatus(store.ReleaseHalted),
		"POST /api/v1/releases/{id}/resume":                 a.setReleaseStatus(store.ReleaseActive),
		"POST /api/v1/releases/{id}/withdraw":               a.setReleaseStatus(store.ReleaseWithdrawn),
		"POST /api/v1/releases/{id}/rollback":               a.allowRollback,
		"GET /api/v1/release-keys":                          a.releaseKeys,
		"POST /api/v1/release-keys":                         a.addKeyStatement,
		"GET /api/v1/scripts":                               a.listScripts,
		"POST /api/v1/scripts":                              a.createScript,
		"GET /api/v1/scripts/{id}":                          a.getScript,
		"PUT /api/v1/scripts/{id}":                          a.updateScript,
		"DELETE /api/v1/scripts/{id}":                       a.deleteScript,
		"GET /api/v1/scripts/{id}/versions":                 a.scriptVersions,
		"GET /api/v1/jobs":                                  a.listJobs,
		"POST /api/v1/jobs":                                 a.runJob,
		"GET /api/v1/jobs/{id}":                             a.getJob,
		"POST /api/v1/jobs/{id}/cancel":                     a.cancelJob,
		"GET /api/v1/jobs/{id}/runs/{agent}/output":         a.jobOutput,
		"GET /api/v1/agents/{id}/runs":                      a.agentJobRuns,
	}
	// Streams run as long as the client watches: no request timeout.
	streams := map[string]handlerFunc{
		"GET /api/v1/jobs/{id}/events": a.jobEvents,
	}
	// paths knows every route's path without its method, to tell a wrong
	// method (405 with Allow) from an unknown endpoint (404).
	paths := http.NewServeMux()
	allowed := map[string][]string{}
	for pattern, h := range streams {
		routes[pattern] = h
	}
	for pattern, h := range routes {
		if streams[pattern] != nil {
			mux.Handle(pattern, a.serveWithin(h, 0))
		} else {
			mux.Handle(pattern, a.serve(h))
		}
		method, path, _ := strings.Cut(pattern, " ")
		if allowed[path] == nil {
			paths.Handle(path, http.NotFoundHandler())
		}
		allowed[path] = append(allowed[path], method)
	}
	// Anything else under /api/ is answered in JSON rather than by a
	// dashboard page.
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, path := paths.Handler(r); path != "" && path != "/" {
			methods := slices.Sorted(slices.Values(allowed[path]))
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.Join(methods, " or "))
			return
		}
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	}))
}

func (a *API) serve(h handlerFunc) http.Handler {
	timeout := a.cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	return a.serveWithin(h, timeout)
}

// serveWithin serves h with each request bounded by timeout (0: none, for
// streams that last as long as their client watches).
func (a *API) serveWithin(h handlerFunc, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if timeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		p, err := a.cfg.Auth.Authenticate(r)
		if err != nil {
			if errors.Is(err, access.ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="steward"`)
				writeError(w, http.StatusUnauthorized, err.Error())
				return
			}
			a.fail(w, r, err)
			return
		}
		if p.Via == "session" && !access.Safe(r.Method) && !access.CSRFValid(r) {
			writeError(w, http.StatusForbidden, "missing or invalid CSRF token")
			return
		}
		if !access.Can(p, access.ReadFleet) {
			writeError(w, http.StatusForbidden, "permission denied")
			return
		}
		if err := h(w, r.WithContext(access.WithPrincipal(r.Context(), p)), p); err != nil {
			a.fail(w, r, err)
		}
	})
}

// badRequest is an error whose message is safe to show the caller.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// fail maps an error to a status code in one place and logs server errors.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		br  *badRequest
		inv *input.Error
		pol *manage.PolicyInvalidError
		cnf *jobs.ConfirmError
	)
	switch {
	case errors.As(err, &br):
		writeError(w, br.status, br.msg)
	case errors.As(err, &cnf):
		writeJSON(w, http.StatusConflict, map[string]any{"error": cnf.Error(), "field": "confirm", "agents": cnf.Agents})
	case errors.As(err, &inv):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": inv.Error(), "field": inv.Field})
	case errors.As(err, &pol):
		fields := make([]map[string]string, len(pol.Fields))
		for i, f := range pol.Fields {
			fields[i] = map[string]string{"path": f.Path, "message": f.Message}
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": pol.Error(), "fields": fields})
	case errors.Is(err, manage.ErrNoReleaseKeys):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrInUse):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, access.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The caller hung up; nobody reads an answer and nothing failed.
		a.cfg.Log.Info("api request abandoned by the caller", "method", r.Method, "path", r.URL.Path)
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil:
		a.cfg.Log.Warn("api request timed out", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the server could not finish the request in time; try again")
	default:
		a.cfg.Log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal server error")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// decode reads a JSON body strictly: size-limited, known fields only, one
// value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return &badRequest{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
		case errors.Is(err, io.EOF):
			return errBadRequest("request body is empty; expected a JSON object")
		}
		return errBadRequest("malformed JSON: %v", err)
	}
	if dec.More() {
		return errBadRequest("malformed JSON: more than one value in the body")
	}
	return nil
}

// list is the shape of every list response.
type list[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// writeAll answers a list the store reads whole (policies, assignments,
// channels, maintenance windows: tens of rows) with the same paging as
// every other list: limit and offset from the query, the default limit
// when none is given.
func writeAll[T any](w http.ResponseWriter, r *http.Request, items []T) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	from := min(pg.Offset, len(items))
	out := items[from:min(from+pg.Limit, len(items))]
	if out == nil {
		out = []T{}
	}
	writeJSON(w, http.StatusOK, list[T]{Items: out, Total: len(items), Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func page(r *http.Request) (store.Page, error) {
	var p store.Page
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return p, errBadRequest("limit must be a number from 1 to 500")
		}
		p.Limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, errBadRequest("offset must be a number of at least 0")
		}
		p.Offset = n
	}
	return p.Normalize(), nil
}
