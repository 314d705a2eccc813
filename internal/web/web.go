// Package web serves the dashboard: server-rendered html/template pages for
// technicians, enhanced with htmx for partial updates and server-sent events
// for live presence. The JSON API and the agent gateway live elsewhere; this
// package owns every other browser-facing route.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/alerting"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/timeseries"
	"github.com/steward-rmm/steward/internal/updates"
)

// Config holds the dashboard's dependencies.
type Config struct {
	DB     *store.DB
	Manage *manage.Service
	// Policies resolves effective policies for the policy pages.
	Policies *effective.Policies
	Auth     *access.Authenticator
	// Series reads the metric samples the agent page charts.
	Series *timeseries.Store
	// Notify sends the settings pages' test notifications.
	Notify *notify.Service
	// Alerts acknowledges and resolves alerts by hand.
	Alerts *alerting.Service
	// Setup holds the one-time setup token; nil or closed once users exist.
	Setup *access.SetupGate
	// Bus carries bus.SubjectPresence events that drive live updates.
	Bus bus.Bus
	// Commands sends commands to agents (inventory refresh); nil hides
	// the buttons that need it.
	Commands *command.Service
	// Updates offers updates to agents ("Update now"); nil hides the
	// button.
	Updates *updates.Service
	// Jobs runs scripts and keeps the script library; nil hides the
	// script pages and actions.
	Jobs *jobs.Service
	// Relay lists and ends live remote sessions; nil hides the page.
	Relay SessionRelay
	// ReleaseKeys are the release public keys an uploaded release must be
	// signed with; none refuses every upload, as the API does.
	ReleaseKeys []protocol.ReleaseKey
	Log         *slog.Logger
	// PublicURL is the base of install commands, e.g. "https://rmm.example.com".
	PublicURL string
	// AgentDir holds agent binaries named steward-agent-<os>-<arch>[.exe].
	AgentDir   string
	Version    string
	TrustProxy bool
	// RequestTimeout bounds each page and form (not the event stream or
	// downloads); zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout bounds a dashboard request when Config sets none.
const DefaultRequestTimeout = 30 * time.Second

// Login rate limits: failures allowed per window, per client IP and per
// email address.
const (
	loginWindow      = 15 * time.Minute
	loginFailsPerIP  = 20
	loginFailsPerKey = 10
)

// Handler serves the dashboard routes.
type Handler struct {
	cfg       Config
	log       *slog.Logger
	pages     map[string]*template.Template
	static    *assets
	publicURL string

	ipLimit    *access.Limiter
	emailLimit *access.Limiter
	// passwordChecks bounds concurrent argon2 verifications (19 MiB
	// each), so a burst of logins cannot exhaust memory.
	passwordChecks chan struct{}

	events *hub
}

// New parses the embedded templates, hashes the static files and subscribes
// to presence events. Call Close to stop the subscription and end streams.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("web: Config.DB is required")
	case cfg.Manage == nil:
		return nil, errors.New("web: Config.Manage is required")
	case cfg.Policies == nil:
		return nil, errors.New("web: Config.Policies is required")
	case cfg.Auth == nil:
		return nil, errors.New("web: Config.Auth is required")
	case cfg.Bus == nil:
		return nil, errors.New("web: Config.Bus is required")
	case cfg.Series == nil:
		return nil, errors.New("web: Config.Series is required")
	case cfg.Notify == nil:
		return nil, errors.New("web: Config.Notify is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, fmt.Errorf("web: PublicURL %q must be an absolute http(s) URL", cfg.PublicURL)
	}
	st, err := loadAssets()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:            cfg,
		log:            cfg.Log,
		static:         st,
		publicURL:      strings.TrimRight(cfg.PublicURL, "/"),
		ipLimit:        access.NewLimiter(loginFailsPerIP, loginWindow),
		emailLimit:     access.NewLimiter(loginFailsPerKey, loginWindow),
		passwordChecks: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}
	for _, warning := range PublicURLWarnings(h.publicURL) {
		h.log.Warn(warning, "public_url", h.publicURL)
	}
	if h.pages, err = parsePages(h.funcs()); err != nil {
		return nil, err
	}
	if h.events, err = newHub(cfg.Bus, cfg.Log); err != nil {
		return nil, err
	}
	return h, nil
}

// Close unsubscribes from the bus, ends open event streams and waits for
// them to return.
func (h *Handler) Close() { h.events.close() }

// Register adds every dashboard route to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	// Public: no session needed.
	mux.Handle("GET /static/{path...}", h.public(h.serveStatic))
	mux.Handle("GET /download/agent/{os}/{arch}", h.publicStream(h.download))
	mux.Handle("GET /login", h.public(h.loginPage))
	mux.Handle("POST /login", h.public(checkCSRF(h.login)))
	mux.Handle("POST /logout", h.public(checkCSRF(h.logout)))
	// Setup answers every method itself so that, once a user exists, the
	// answer is 404 whatever the method (the mux would otherwise say 405).
	mux.Handle("/setup", h.public(h.setup))

	// Signed in.
	mux.Handle("GET /{$}", h.authed(h.homePage))
	mux.Handle("GET /events", h.authedStream(h.eventStream))
	mux.Handle("GET /agents", h.authed(h.agentsPage))
	mux.Handle("GET /agents.csv", h.authedStream(h.agentsCSV))
	mux.Handle("GET /agents/{id}", h.authed(h.agentPage))
	mux.Handle("GET /agents/{id}/series", h.authed(h.agentSeries))
	mux.Handle("GET /agents/{id}/metrics", h.authed(h.agentMetrics))
	mux.Handle("GET /agents/{id}/inventory", h.authed(h.agentInventory))
	mux.Handle("GET /agents/{id}/software", h.authed(h.agentSoftware))
	mux.Handle("GET /agents/{id}/policy", h.authed(h.agentPolicy))
	mux.Handle("GET /agents/{id}/alerts", h.authed(h.agentAlerts))
	mux.Handle("GET /agents/{id}/history", h.authed(h.agentHistory))
	mux.Handle("GET /agents/{id}/terminal", h.authed(h.terminalPage))
	mux.Handle("POST /agents/{id}/inventory/refresh", h.authed(h.refreshInventory))
	mux.Handle("POST /agents/{id}/delete", h.authed(h.deleteAgent))
	mux.Handle("GET /agents/{id}/updates", h.authed(h.agentUpdates))
	mux.Handle("POST /agents/{id}/update", h.authed(h.updateAgent))
	mux.Handle("POST /agents/{id}/channel", h.authed(h.setAgentChannel))
	mux.Handle("POST /sites/{id}/channel", h.authed(h.setSiteChannel))
	mux.Handle("POST /clients/{id}/channel", h.authed(h.setClientChannel))
	mux.Handle("GET /releases", h.authed(h.releasesPage))
	mux.Handle("POST /releases", h.authedUpload(h.publishRelease))
	mux.Handle("GET /releases/keys", h.authed(h.releaseKeysPage))
	mux.Handle("POST /releases/keys", h.authed(h.addKeyStatement))
	mux.Handle("GET /releases/{id}", h.authed(h.releasePage))
	mux.Handle("POST /releases/{id}/rollback", h.authed(h.allowRollback))
	mux.Handle("POST /updates", h.authed(h.updateNow))
	mux.Handle("POST /releases/{id}/halt", h.authed(h.setReleaseStatus(store.ReleaseHalted)))
	mux.Handle("POST /releases/{id}/resume", h.authed(h.setReleaseStatus(store.ReleaseActive)))
	mux.Handle("POST /releases/{id}/withdraw", h.authed(h.setReleaseStatus(store.ReleaseWithdrawn)))
	mux.Handle("GET /software", h.authed(h.softwarePage))
	mux.Handle("GET /alerts", h.authed(h.alertsPage))
	mux.Handle("POST /alerts/acknowledge", h.authed(h.acknowledgeAlerts))
	mux.Handle("POST /alerts/resolve", h.authed(h.resolveAlerts))
	mux.Handle("POST /alerts/{id}/resolve", h.authed(h.resolveAlert))
	mux.Handle("POST /alerts/{id}/acknowledge", h.authed(h.acknowledgeAlert))
	mux.Handle("GET /clients", h.authed(h.clientsPage))
	mux.Handle("POST /clients", h.authed(h.createClient))
	mux.Handle("GET /clients/{id}", h.authed(h.clientPage))
	mux.Handle("POST /clients/{id}/sites", h.authed(h.createSite))
	mux.Handle("GET /sites/{id}", h.authed(h.sitePage))
	mux.Handle("POST /sites/{id}/tokens", h.authed(h.createToken))
	mux.Handle("GET /tokens/{id}", h.authed(h.tokenPage))
	mux.Handle("POST /tokens/{id}/revoke", h.authed(h.revokeToken))
	mux.Handle("GET /audit", h.authed(h.auditPage))
	mux.Handle("GET /settings/notifications", h.authed(h.channelsPage))
	mux.Handle("POST /settings/notifications", h.authed(h.createChannel))
	mux.Handle("GET /settings/notifications/{id}", h.authed(h.channelPage))
	mux.Handle("POST /settings/notifications/{id}", h.authed(h.updateChannel))
	mux.Handle("POST /settings/notifications/{id}/test", h.authed(h.testChannel))
	mux.Handle("POST /settings/notifications/{id}/delete", h.authed(h.deleteChannel))
	mux.Handle("GET /settings/smtp", h.authed(h.smtpPage))
	mux.Handle("POST /settings/smtp", h.authed(h.saveSMTP))
	mux.Handle("POST /settings/smtp/test", h.authed(h.testSMTP))
	mux.Handle("GET /policies", h.authed(h.policiesPage))
	mux.Handle("POST /policies", h.authed(h.createPolicy))
	mux.Handle("GET /policies/outdated", h.authed(h.outdatedPage))
	mux.Handle("GET /policies/{id}", h.authed(h.policyPage))
	mux.Handle("POST /policies/{id}", h.authed(h.savePolicy))
	mux.Handle("POST /policies/{id}/delete", h.authed(h.deletePolicy))
	mux.Handle("POST /assignments", h.authed(h.assignPolicy))
	mux.Handle("POST /assignments/remove", h.authed(h.unassignPolicy))
	mux.Handle("POST /maintenance", h.authed(h.startMaintenance))
	mux.Handle("POST /maintenance/{id}/end", h.authed(h.endMaintenance))
	if h.cfg.Jobs != nil {
		h.registerScripts(mux)
	}
	mux.Handle("GET /jobs", h.authed(h.jobsPage))
	mux.Handle("GET /sessions", h.authed(h.sessionsPage))
	mux.Handle("POST /sessions/{id}/end", h.authed(h.endSession))
	mux.Handle("GET /jobs/new", h.authed(h.newJobPage))
	mux.Handle("POST /jobs", h.authedLarge(h.runJob, maxRunFormBytes))
	mux.Handle("GET /jobs/{id}", h.authed(h.jobPage))
	mux.Handle("POST /jobs/{id}/cancel", h.authed(h.cancelJob))
	mux.Handle("GET /jobs/{id}/runs/{agent}", h.authed(h.runPage))
	mux.Handle("GET /agents/{id}/scripts", h.authed(h.agentScripts))
	mux.Handle("POST /agents/power", h.authed(h.bulkPower))
	mux.Handle("POST /agents/policy", h.authed(h.bulkAssignPolicy))
	mux.Handle("GET /agents/{id}/actions", h.authed(h.agentActions))
	mux.Handle("POST /agents/{id}/actions", h.authed(h.postAction))
	mux.Handle("GET /agents/{id}/actions/{command}", h.authed(h.agentAction))

	// Anything else is a dashboard 404 rather than the mux's plain text.
	mux.Handle("/", h.public(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound
	}))
}

// errNotFound renders the 404 page through the error helper.
var errNotFound = fmt.Errorf("page: %w", store.ErrNotFound)

// handlerFunc is a route that reports failure by returning an error, which
// fail maps to a status code and page in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// pageFunc is a route that needs a signed-in principal.
type pageFunc func(w http.ResponseWriter, r *http.Request, p access.Principal) error

// contentSecurityPolicy allows only our own scripts, styles and
// connections: no inline script or style, no framing.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// maxFormBytes bounds a form post; the dashboard's largest is a name.
const maxFormBytes = 64 << 10

// prepare sets the headers every response carries and bounds the body of
// unsafe requests.
func prepare(w http.ResponseWriter, r *http.Request, bodyLimit int64) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if !access.Safe(r.Method) {
		r.Body = http.MaxBytesReader(w, r.Body, bodyLimit)
	}
}

// public serves a route that needs no session.
func (h *Handler) public(fn handlerFunc) http.Handler {
	return h.publicWith(fn, true)
}

// publicStream is public without the request deadline, for answers that
// may take long to send (agent downloads over a slow link).
func (h *Handler) publicStream(fn handlerFunc) http.Handler {
	return h.publicWith(fn, false)
}

func (h *Handler) publicWith(fn handlerFunc, bounded bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prepare(w, r, maxFormBytes)
		if bounded {
			var cancel context.CancelFunc
			r, cancel = h.bound(r)
			defer cancel()
		}
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// bound gives the request the dashboard's deadline, so that a hung
// database fails a page instead of piling requests up.
func (h *Handler) bound(r *http.Request) (*http.Request, context.CancelFunc) {
	timeout := h.cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return r.WithContext(ctx), cancel
}

// checkCSRF refuses a public form post without the CSRF token. Signed-in
// routes check it in authed; /setup checks it itself, after deciding
// whether the route exists at all.
func checkCSRF(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !access.CSRFValid(r) {
			return errCSRF
		}
		return fn(w, r)
	}
}

// authed serves a route for signed-in users: it authenticates, checks the
// CSRF token on unsafe methods and the read permission, then puts the
// principal in the request context for the templates.
func (h *Handler) authed(fn pageFunc) http.Handler {
	return h.authedWith(fn, true, false, maxFormBytes)
}

// authedLarge is authed for forms larger than maxFormBytes (a script's
// editor and import), bounded by limit instead.
func (h *Handler) authedLarge(fn pageFunc, limit int64) http.Handler {
	return h.authedWith(fn, true, false, limit)
}

// authedUpload is authed for a large multipart upload: no request
// deadline (a release over a slow link takes minutes), no form-size
// bound (the handler sets its own) and the CSRF token checked by the
// handler as it streams the body, since parsing the form for it here
// would read the whole upload first.
func (h *Handler) authedUpload(fn pageFunc) http.Handler {
	return h.authedWith(fn, false, true, protocol.MaxReleaseBytes+1<<20)
}

// authedStream is authed without the request deadline, for the event
// stream, which lasts as long as the page is open.
func (h *Handler) authedStream(fn pageFunc) http.Handler {
	return h.authedWith(fn, false, false, maxFormBytes)
}

func (h *Handler) authedWith(fn pageFunc, bounded, upload bool, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prepare(w, r, limit)
		if bounded {
			var cancel context.CancelFunc
			r, cancel = h.bound(r)
			defer cancel()
		}
		p, err := h.cfg.Auth.Authenticate(r)
		if errors.Is(err, access.ErrUnauthenticated) {
			h.toLogin(w, r)
			return
		}
		if err != nil {
			h.fail(w, r, fmt.Errorf("authenticate: %w", err))
			return
		}
		r = r.WithContext(access.WithPrincipal(r.Context(), p))
		switch {
		case !upload && !access.Safe(r.Method) && !access.CSRFValid(r):
			err = errCSRF
		case !access.Can(p, access.ReadFleet):
			err = fmt.Errorf("%w: role %s cannot view the dashboard", access.ErrForbidden, p.User.Role)
		default:
			err = fn(w, r, p)
		}
		if err != nil {
			h.fail(w, r, err)
		}
	})
}

// toLogin sends an unauthenticated browser to the login page, remembering
// where it was going.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request) {
	next := ""
	switch {
	case r.URL.Path == "/events":
		// An EventSource cannot follow a login redirect; it retries later.
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	case r.Header.Get("HX-Request") == "true":
		// htmx would swap the login page into a table; make it navigate.
		if u, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil {
			next = u.RequestURI()
		}
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		next = r.URL.RequestURI()
	}
	target := "/login"
	if next = safeNext(next); next != "/" {
		target += "?" + url.Values{"next": {next}}.Encode()
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns next if it is a path on this site, else "/". It refuses
// scheme-relative ("//host") and backslash ("/\host") forms and control
// characters, which browsers strip before resolving.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}
