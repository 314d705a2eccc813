// Package server wires Steward's server together: database, hub, agent
// gateway, JSON API, dashboard and operations endpoints, and runs them
// until the context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/alerting"
	"github.com/steward-rmm/steward/internal/api"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/cluster"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/push"
	"github.com/steward-rmm/steward/internal/relay"
	"github.com/steward-rmm/steward/internal/release"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/timeseries"
	"github.com/steward-rmm/steward/internal/updates"
	"github.com/steward-rmm/steward/internal/web"
)

// Server is one replica, built by New and served by Run: its database,
// services, HTTP handler, periodic jobs and listener.
type Server struct {
	cfg       Config
	log       *slog.Logger
	started   time.Time
	replicaID string

	db       *store.DB
	events   bus.Bus
	hub      *hub.Hub
	cmds     *command.Service
	policies *push.Service
	manage   *manage.Service
	member   *cluster.Member
	jobs     []cluster.Job
	dash     *web.Handler
	relay    *relay.Relay
	setup    *access.SetupGate
	handler  http.Handler
	ln       net.Listener

	// closers release what New acquired, last first; Close runs them once.
	closers   []func()
	closeOnce sync.Once
}

// New builds a replica from cfg: it opens and migrates the database, joins
// the bus, wires every service, binds the listener (so Addr is known
// before Run) and registers the replica. The caller must call Run or Close.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	derivedURL := cfg.PublicURL == ""
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{log: log, started: time.Now(), replicaID: store.NewID()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	raiseFileLimit(log)

	if cfg.DatabaseURL == "" {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, unlock)
	}
	var db *store.DB
	err = retry(ctx, log, "the database "+redact(cfg.DatabaseURL), func(err error) bool {
		return cfg.DatabaseURL != "" && errors.Is(err, store.ErrUnavailable)
	}, func() (err error) {
		db, err = store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.db = db
	s.closers = append(s.closers, func() { db.Close() })
	schema, _ := db.SchemaVersion(ctx)
	log.Info("database ready", "engine", db.Dialect(), "schema_version", schema)

	if db.Dialect() == "sqlite" {
		// Only one replica can use a SQLite file, so nothing holds any agent
		// yet: whoever was online belonged to the previous process.
		if ids, err := db.MarkStaleOffline(ctx, time.Now().Add(time.Second)); err != nil {
			return nil, err
		} else if len(ids) > 0 {
			log.Info("marked agents of the previous run offline", "agents", len(ids))
		}
		// Likewise the remote sessions it relayed.
		if n, err := db.EndReplicaSessions(ctx, "", "the server stopped"); err != nil {
			return nil, err
		} else if n > 0 {
			log.Info("ended remote sessions of the previous run", "sessions", n)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	httpMetrics := newHTTPMetrics(reg)

	var events bus.Bus = bus.NewLocal()
	if cfg.NATSURL != "" {
		var nb *bus.NATS
		err := retry(ctx, log, "NATS at "+redact(cfg.NATSURL), func(error) bool { return true }, func() (err error) {
			nb, err = bus.DialNATS(cfg.NATSURL, "steward "+s.replicaID, log)
			return err
		})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, nb.Close)
		events = nb
		log.Info("joined the replica bus", "nats_url", redact(cfg.NATSURL))
	}
	s.events = events

	// Bound once the database and the bus answer: while New waits for them,
	// a load balancer's probe is refused at once instead of hanging.
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.closers = append(s.closers, func() { s.ln.Close() })
	if _, port, _ := net.SplitHostPort(cfg.Listen); derivedURL && port == "0" {
		// A port chosen by the system is only known now; links and
		// install commands must carry it.
		cfg.PublicURL = "http://" + s.ln.Addr().String()
	}
	s.cfg = cfg

	s.hub = hub.New(db, events, log, hub.Options{
		ReplicaID: s.replicaID, Heartbeat: cfg.Heartbeat, Registerer: reg, ServerVersion: cfg.Version,
	})
	s.cmds = command.New(db, s.hub, events, s.replicaID, log)
	// Commands lost on the bus are offered again within a few heartbeats.
	s.cmds.SetRedeliverEvery(min(cfg.Heartbeat, command.DefaultRedeliverEvery))
	policies := effective.NewPolicies(db)
	s.policies = push.New(policies, s.hub, events, log)
	s.hub.SetPolicyHandler(s.policies)
	series := timeseries.New(db, log, reg)
	notifier := notify.New(db, log, notify.Options{PublicURL: cfg.PublicURL})
	alerts := alerting.New(db, policies, events, log, notifier)
	s.hub.SetMetricsHandler(alerting.Ingester{Series: series, Alerts: alerts})
	s.hub.SetHelpHandler(alerting.HelpDesk{Alerts: alerts})
	upd := updates.New(db, s.cmds, log)
	upd.SetPolicies(policies)
	upd.SetRollout(cfg.RolloutBatch, cfg.RolloutSpread)
	s.hub.SetUpdateHandler(upd)
	scripts := jobs.New(db, s.cmds, events, log)
	scripts.SetConfirmAbove(cfg.ConfirmAbove)
	s.hub.SetScriptHandler(scripts)
	s.hub.SetScheduleHandler(jobs.NewSchedules(scripts, policies, log))
	// Agents' answers pass through the jobs service, which stores the
	// output a quick script run carries in its result.
	s.relay = relay.New(db, relay.HubAgents{Hub: s.hub}, log, relay.Options{ReplicaID: s.replicaID})
	s.hub.SetCommandHandler(sessionResults{CommandHandler: scripts, relay: s.relay})
	alerts.SetRemediator(scripts)
	authn := access.NewAuthenticator(db, log, cfg.TrustProxy)
	svc := manage.New(db)
	svc.SetPolicyNotifier(s.policies)
	releaseKeys, err := release.LoadPublicKeys(cfg.ReleaseKeys)
	if err != nil {
		return nil, fmt.Errorf("--release-key: %w", err)
	}
	if len(releaseKeys) == 0 {
		log.Info("no release public key configured: agent releases cannot be published (--release-key)")
	}
	for _, k := range releaseKeys {
		log.Info("trusting release key", "key_id", k.ID)
	}
	s.manage = svc

	hasUsers, err := db.HasUsers(ctx)
	if err != nil {
		return nil, err
	}
	s.setup = access.NewSetupGate()
	if hasUsers {
		s.setup.Close()
	}

	s.dash, err = web.New(web.Config{
		DB: db, Manage: svc, Policies: policies, Auth: authn, Series: series, Notify: notifier, Alerts: alerts, Setup: s.setup, Bus: events, Log: log,
		PublicURL: cfg.PublicURL, AgentDir: cfg.AgentDir, Version: cfg.Version, TrustProxy: cfg.TrustProxy,
		Commands: s.cmds, Updates: upd, Jobs: scripts, ReleaseKeys: releaseKeys, Relay: s.relay,
	})
	if err != nil {
		return nil, fmt.Errorf("build dashboard: %w", err)
	}
	s.closers = append(s.closers, s.dash.Close)

	mux := http.NewServeMux()
	gw := gateway.New(db, s.hub, log, cfg.TrustProxy)
	gw.SetMachines(alerts)
	gw.SetRelay(s.relay)
	if cfg.MaxDownloads > 0 {
		gw.SetMaxDownloads(cfg.MaxDownloads)
	}
	gw.Register(mux)
	api.New(api.Config{DB: db, Manage: svc, ReleaseKeys: releaseKeys, Updates: upd, Jobs: scripts, Policies: policies, Commands: s.cmds, Series: series, Notify: notifier, Alerts: alerts, Auth: authn, Log: log, Version: cfg.Version, Started: s.started, Relay: s.relay}).Register(mux)
	s.dash.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := db.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "database unavailable")
			return
		}
		// A database that answers reads may still refuse every write (a
		// full disk, a lost lock, a read-only failover): the writes this
		// replica makes on its own every heartbeat tell.
		if err := errors.Join(s.hub.PresenceErr(), s.member.Err()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "database writes failing")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.handler = crossOrigin(httpMetrics.wrap(mux, log))

	rolloutEvery := cfg.RolloutEvery
	if rolloutEvery == 0 {
		rolloutEvery = 30 * time.Second
	}
	s.jobs = []cluster.Job{
		{Name: "offline-sweep", Every: cfg.Heartbeat, Run: s.hub.Sweep},
		{Name: "command-expiry", Every: 15 * time.Second, Run: s.cmds.Expire},
		// Rolling up is idempotent and cheap when there is nothing new, so
		// it runs more often than hourly to keep the previous hour fresh.
		{Name: "metrics-rollup", Every: 10 * time.Minute, Run: series.RollUp},
		{Name: "metrics-retention", Every: time.Hour, Run: func(ctx context.Context) error {
			// Raw samples and rollups live as long as the default level's
			// policy says.
			raw, rollup, err := policies.Retention(ctx)
			if err != nil {
				return err
			}
			return errors.Join(series.Prune(ctx, raw), series.PruneRollups(ctx, rollup))
		}},
		{Name: "offline-alerts", Every: 30 * time.Second, Run: alerts.CheckOffline},
		{Name: "update-rollout", Every: rolloutEvery, Run: upd.Rollout},
		{Name: "script-output", Every: 5 * time.Second, Run: scripts.SweepOutput},
		{Name: "job-finish", Every: 5 * time.Second, Run: scripts.FinishJobs},
		{Name: "inventory-history", Every: time.Hour, Run: inventory.New(db, log).Prune},
		{Name: "notifications", Every: time.Second, Run: notifier.Deliver},
		{Name: "session-prune", Every: time.Hour, Run: func(ctx context.Context) error {
			n, err := db.DeleteExpiredSessions(ctx)
			if n > 0 {
				log.Info("pruned expired sessions", "count", n)
			}
			return err
		}},
	}
	hostname, _ := os.Hostname()
	s.member = cluster.New(db, log, store.Replica{
		ID: s.replicaID, Hostname: hostname, Version: cfg.Version, StartedAt: s.started,
	}, hub.MissedHeartbeats*cfg.Heartbeat, s.jobs)

	if err := s.member.Join(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler is the server's whole HTTP surface, as Run serves it.
func (s *Server) Handler() http.Handler { return s.handler }

// DB is the server's database handle.
func (s *Server) DB() *store.DB { return s.db }

// Manage returns the replica's management service: changes made through
// it reach the replica's policy cache and agents, as the API's do.
func (s *Server) Manage() *manage.Service { return s.manage }

// Hub is the replica's connection hub, for tests and diagnostics that
// look at the connections it holds.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Bus is the bus the replica publishes presence and routes commands on.
func (s *Server) Bus() bus.Bus { return s.events }

// ReplicaID identifies this replica in presence and command routing.
func (s *Server) ReplicaID() string { return s.replicaID }

// SetupToken is the one-time setup token while no user exists, else "".
func (s *Server) SetupToken() string { return s.setup.Token() }

// RunJob runs the named periodic job once, now, whether or not this
// replica holds the jobs lease: the console and tests use it to act
// without waiting for the job's period.
func (s *Server) RunJob(ctx context.Context, name string) error {
	for _, j := range s.jobs {
		if j.Name == name {
			return j.Run(ctx)
		}
	}
	return fmt.Errorf("no job named %q", name)
}

// Close releases what New acquired. Run calls it on the way out; call it
// directly only for a server that is never run.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
}

// Run starts the hub, the command and policy services
// and the jobs, serves HTTP until ctx ends, then shuts down gracefully and
// closes the server.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.hub.Run(bg) })
	wg.Go(func() {
		if err := s.cmds.Run(bg); err != nil {
			s.log.Error("command service stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := s.policies.Run(bg); err != nil {
			s.log.Error("policy push stopped", "err", err)
		}
	})
	wg.Go(func() { s.member.Run(bg) })
	defer func() {
		stopBG()
		wg.Wait()
	}()

	if s.cfg.DebugListen != "" {
		stop, err := serveDebug(s.cfg.DebugListen, s.log)
		if err != nil {
			return err
		}
		defer stop()
	}

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(s.ln) }()
	s.log.Info("steward listening", "addr", s.ln.Addr().String(), "public_url", s.cfg.PublicURL, "version", s.cfg.Version)
	if tok := s.setup.Token(); tok != "" {
		s.log.Warn("no user exists yet: open the one-time setup link to create the first owner account",
			"setup_url", s.cfg.PublicURL+"/setup?token="+tok)
	}

	select {
	case err := <-serveErr:
		s.hub.Shutdown()
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	// Event streams never go idle: end them first, or the HTTP shutdown
	// would wait out its whole timeout for open dashboards.
	s.dash.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Relayed sessions are hijacked connections the HTTP shutdown does not
	// wait for: end and record them first.
	s.relay.Close(shutCtx)
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("http shutdown", "err", err)
	}
	s.hub.Shutdown()
	<-serveErr
	return nil
}

// sessionResults passes agents' results to the jobs service, but for the
// answers to session_open, which the relay takes.
type sessionResults struct {
	hub.CommandHandler
	relay *relay.Relay
}

func (h sessionResults) Result(ctx context.Context, agentID string, r protocol.Result) {
	if !h.relay.AgentAnswered(agentID, r) {
		h.CommandHandler.Result(ctx, agentID, r)
	}
}

// crossOrigin rejects cross-site unsafe requests from browsers (the
// standard library's Sec-Fetch-Site / Origin check). Agents and API
// clients send neither header and pass.
func crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return cop.Handler(next)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
