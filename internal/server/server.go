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
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/push"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/timeseries"
	"github.com/steward-rmm/steward/internal/web"
)

// Run starts the server and blocks until ctx ends, then shuts down
// gracefully. ready, if not nil, receives the bound address once the
// server accepts connections.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(addr net.Addr)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	started := time.Now()
	raiseFileLimit(log)

	if cfg.DatabaseURL == "" {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer db.Close()
	schema, _ := db.SchemaVersion(ctx)
	log.Info("database ready", "engine", db.Dialect(), "schema_version", schema)

	replicaID := store.NewID()
	if db.Dialect() == "sqlite" {
		// Only one replica can use a SQLite file, so nothing holds any agent
		// yet: whoever was online belonged to the previous process.
		if ids, err := db.MarkStaleOffline(ctx, time.Now().Add(time.Second)); err != nil {
			return err
		} else if len(ids) > 0 {
			log.Info("marked agents of the previous run offline", "agents", len(ids))
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	httpMetrics := newHTTPMetrics(reg)

	var events bus.Bus = bus.NewLocal()
	if cfg.NATSURL != "" {
		nb, err := bus.DialNATS(cfg.NATSURL, "steward "+replicaID, log)
		if err != nil {
			return err
		}
		defer nb.Close()
		events = nb
		log.Info("joined the replica bus", "nats_url", redact(cfg.NATSURL))
	}
	h := hub.New(db, events, log, hub.Options{
		ReplicaID: replicaID, Heartbeat: cfg.Heartbeat, Registerer: reg, ServerVersion: cfg.Version,
	})
	cmds := command.New(db, h, events, replicaID, log)
	h.SetCommandHandler(cmds)
	policies := push.New(db, h, events, log)
	h.SetPolicyHandler(policies)
	series := timeseries.New(db, log, reg)
	notifier := notify.New(db, log, notify.Options{PublicURL: cfg.PublicURL})
	alerts := alerting.New(db, policies, events, log, notifier)
	h.SetMetricsHandler(alerting.Ingester{Series: series, Alerts: alerts})
	authn := access.NewAuthenticator(db, log, cfg.TrustProxy)
	svc := manage.New(db)
	svc.SetPolicyNotifier(policies)

	var setup *access.SetupGate
	hasUsers, err := db.HasUsers(ctx)
	if err != nil {
		return err
	}
	if !hasUsers {
		setup = access.NewSetupGate()
	} else {
		setup = closedGate()
	}

	dash, err := web.New(web.Config{
		DB: db, Manage: svc, Auth: authn, Series: series, Notify: notifier, Alerts: alerts, Setup: setup, Bus: events, Log: log,
		PublicURL: cfg.PublicURL, AgentDir: cfg.AgentDir, Version: cfg.Version, TrustProxy: cfg.TrustProxy,
		Commands: cmds,
	})
	if err != nil {
		return fmt.Errorf("build dashboard: %w", err)
	}
	defer dash.Close()

	mux := http.NewServeMux()
	gateway.New(db, h, log, cfg.TrustProxy).Register(mux)
	api.New(api.Config{DB: db, Manage: svc, Commands: cmds, Series: series, Notify: notifier, Alerts: alerts, Auth: authn, Log: log, Version: cfg.Version, Started: started}).Register(mux)
	dash.Register(mux)
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
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	handler := httpMetrics.wrap(mux, log)
	handler = crossOrigin(handler)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	hostname, _ := os.Hostname()
	member := cluster.New(db, log, store.Replica{
		ID: replicaID, Hostname: hostname, Version: cfg.Version, StartedAt: started,
	}, hub.MissedHeartbeats*cfg.Heartbeat, []cluster.Job{
		{Name: "offline-sweep", Every: cfg.Heartbeat, Run: h.Sweep},
		{Name: "command-expiry", Every: 15 * time.Second, Run: cmds.Expire},
		// Rolling up is idempotent and cheap when there is nothing new, so
		// it runs more often than hourly to keep the previous hour fresh.
		{Name: "metrics-rollup", Every: 10 * time.Minute, Run: series.RollUp},
		{Name: "metrics-retention", Every: time.Hour, Run: func(ctx context.Context) error {
			// Raw samples and rollups live as long as the default level's
			// policy says.
			raw, err := svc.DefaultRetention(ctx)
			if err != nil {
				return err
			}
			rollup, err := svc.DefaultRollupRetention(ctx)
			if err != nil {
				return err
			}
			return errors.Join(series.Prune(ctx, raw), series.PruneRollups(ctx, rollup))
		}},
		{Name: "offline-alerts", Every: 30 * time.Second, Run: alerts.CheckOffline},
		{Name: "inventory-history", Every: time.Hour, Run: inventory.New(db, log).Prune},
		{Name: "notifications", Every: time.Second, Run: notifier.Deliver},
		{Name: "session-prune", Every: time.Hour, Run: func(ctx context.Context) error {
			n, err := db.DeleteExpiredSessions(ctx)
			if n > 0 {
				log.Info("pruned expired sessions", "count", n)
			}
			return err
		}},
	})
	if err := member.Join(ctx); err != nil {
		return err
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(bg)
	}()
	cmdsDone := make(chan struct{})
	go func() {
		defer close(cmdsDone)
		if err := cmds.Run(bg); err != nil {
			log.Error("command service stopped", "err", err)
		}
	}()
	pushDone := make(chan struct{})
	go func() {
		defer close(pushDone)
		if err := policies.Run(bg); err != nil {
			log.Error("policy push stopped", "err", err)
		}
	}()
	memberDone := make(chan struct{})
	go func() {
		defer close(memberDone)
		member.Run(bg)
	}()
	defer func() {
		stopBG()
		<-done
		<-cmdsDone
		<-pushDone
		<-memberDone
	}()

	if cfg.DebugListen != "" {
		stop, err := serveDebug(cfg.DebugListen, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("steward listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "version", cfg.Version)
	if tok := setup.Token(); tok != "" {
		log.Warn("no user exists yet: open the one-time setup link to create the first owner account",
			"setup_url", cfg.PublicURL+"/setup?token="+tok)
	}
	if ready != nil {
		ready(ln.Addr())
	}

	select {
	case err := <-serveErr:
		h.Shutdown()
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Event streams never go idle: end them first, or the HTTP shutdown
	// would wait out its whole timeout for open dashboards.
	dash.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	h.Shutdown()
	<-serveErr
	return nil
}

func closedGate() *access.SetupGate {
	g := access.NewSetupGate()
	g.Close()
	return g
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
