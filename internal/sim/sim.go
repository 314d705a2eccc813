// Package sim simulates many steward agents in one process, speaking the
// real protocol over real sockets to a real server: enrollment, the control
// channel's hello and welcome, heartbeats, answers to commands, and
// reconnects with backoff. It is how the server's scale targets are proven,
// so it is built to be lean: one goroutine per agent (the WebSocket
// reader), one scheduler and a few writers for the heartbeats of all
// agents, and no per-agent logging above debug.
//
// It imports only the wire protocol (and the agent's backoff) from this
// module, never the server.
package sim

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Phases of a run, as reported in Stats.Phase.
const (
	PhaseIdle    = "idle"    // Run has not started
	PhaseEnroll  = "enroll"  // loading and enrolling identities
	PhaseConnect = "connect" // agents are running
	PhaseClose   = "close"   // closing connections
	PhaseDone    = "done"
)

// Sim is one simulation. Create it with New, call Run once, and call Stats
// from any goroutine to watch it.
type Sim struct {
	cfg         Config
	connectURLs []string
	baseURLs    []string // the servers' base URLs, for enrollment and uploads
	src         *addrPool
	// booted is the reference for the agents' synthetic boot times.
	booted time.Time
	// platform is the index in platforms every agent takes, or -1.
	platform int
	sched    *scheduler
	c        counters
	ran      atomic.Bool
	// agents is written before the agent goroutines start and read after
	// they were told to stop; never resized.
	agents []*agent
	// uploads are the inventory uploads under way; uploadSlots bounds how
	// many run at once (maxInventoryUploads).
	uploads     sync.WaitGroup
	uploadSlots chan struct{}
	// updates are the offers being carried out; downloads fetches their
	// release files.
	updates   sync.WaitGroup
	downloads *http.Client

	mu           sync.Mutex // guards the fields below
	phase        string
	started      time.Time // Run started
	connectStart time.Time // the first agent started connecting
}

// counters are updated by every agent; Stats reads them.
type counters struct {
	enrolled      atomic.Int64
	enrollRetries atomic.Int64
	started       atomic.Int64
	connected     atomic.Int64
	errors        atomic.Int64
	reconnects    atomic.Int64
	msgsIn        atomic.Int64
	msgsOut       atomic.Int64
	commands      atomic.Int64
	scripts       atomic.Int64
	repeated      atomic.Int64
	policies      atomic.Int64
	inventories   atomic.Int64
	serverErrors  atomic.Int64
	// allConnected is the time from connectStart until every agent was
	// connected at once, in nanoseconds; 0 until then.
	allConnected atomic.Int64
	lastErr      atomic.Pointer[string]
	rtt          histogram
	upd          updateCounters
}

func (c *counters) fail(err error) {
	c.errors.Add(1)
	msg := err.Error()
	c.lastErr.Store(&msg)
}

// Stats is a snapshot of a running simulation.
type Stats struct {
	Phase string
	// Elapsed is the time since Run started; ConnectElapsed since the
	// first agent started connecting (0 before).
	Elapsed, ConnectElapsed time.Duration
	Agents                  int
	Enrolled                int   // identities ready, loaded or enrolled
	EnrollRetries           int64 // enrollment requests retried after 429, 5xx or a network error
	Started                 int   // agents started by the ramp
	Connected               int   // agents between welcome and the end of that connection
	Connecting              int   // started but not connected: dialing, awaiting welcome or backing off
	Errors                  int64 // failed connection attempts and lost connections
	Reconnects              int64 // connections of agents that had been connected before
	MessagesIn, MessagesOut int64
	Commands                int64 // commands run and answered
	Scripts                 int64 // script runs answered (their arguments echoed)
	Repeated                int64 // commands offered again, not run twice
	Policies                int64 // policy revisions acknowledged
	Inventories             int64 // inventory reports the server stored
	ServerErrors            int64 // error and malformed messages received from servers
	Updates                 UpdateStats
	// HeartbeatRTT is the time from sending a heartbeat to receiving the
	// server's answer, since the start.
	HeartbeatRTT Latency
	// TimeToAllConnected is how long after the first agent started
	// connecting all agents were connected at once; 0 until then.
	TimeToAllConnected time.Duration
	LastError          string
	RSS                uint64 // process resident set size, bytes
	Heap               uint64 // Go heap objects, bytes
	Goroutines         int
}

// Summary is the outcome of a run, measured when the run ended and before
// connections were closed.
type Summary struct {
	Agents             int
	Connected          int
	Errors             int64
	Reconnects         int64
	Commands           int64
	Scripts            int64
	Policies           int64
	Inventories        int64
	Updates            UpdateStats
	EnrollTime         time.Duration
	TimeToAllConnected time.Duration // 0: never
	Heartbeats         uint64        // heartbeat round trips measured
	RTTP50, RTTP99     time.Duration
	// RSS and Heap are the process's, after a garbage collection.
	RSS, Heap uint64
	// Server is what the servers' /metrics said at the end, summed over
	// servers; nil unless Config.ServerMetrics and the scrape worked.
	Server *ServerMetrics
}

// OK reports whether every agent was connected at the end.
func (s Summary) OK() bool { return s.Agents > 0 && s.Connected == s.Agents }

// New checks cfg and prepares a simulation.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Sim{cfg: cfg, booted: time.Now(), sched: newScheduler(), phase: PhaseIdle,
		uploadSlots: make(chan struct{}, maxInventoryUploads)}
	s.downloads = s.downloadClient()
	s.platform, _ = platformIndex(cfg.Platform)
	for _, srv := range cfg.Servers {
		u, _ := connectURL(srv)
		s.connectURLs = append(s.connectURLs, u)
		b, _ := baseURL(srv)
		s.baseURLs = append(s.baseURLs, b.String())
	}
	s.src, _ = parseSourceAddrs(cfg.SourceAddrs)
	return s, nil
}

// Run runs a simulation with cfg; see Sim.Run.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	s, err := New(cfg)
	if err != nil {
		return Summary{}, err
	}
	return s.Run(ctx)
}

// Run enrolls or loads the agents, connects them at the configured ramp,
// keeps them connected until Duration has passed or ctx ends, then closes
// every connection with a normal closure and returns what it measured. An
// error means the run could not start (enrollment failed); agents that did
// not connect are counted in the Summary, not returned as an error.
func (s *Sim) Run(ctx context.Context) (Summary, error) {
	if !s.ran.CompareAndSwap(false, true) {
		return Summary{}, errors.New("sim: Run called twice")
	}
	defer s.setPhase(PhaseDone)
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	s.setPhase(PhaseEnroll)

	ids, err := s.identities(ctx)
	enrollTime := time.Since(s.started)
	if err != nil {
		return Summary{Agents: s.cfg.Agents, EnrollTime: enrollTime}, err
	}
	sum := s.connect(ctx, ids)
	sum.EnrollTime = enrollTime
	return sum, nil
}

func (s *Sim) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	if p == PhaseConnect {
		s.connectStart = time.Now()
	}
	s.mu.Unlock()
	s.cfg.Log.Info("phase", "phase", p, "agents", s.cfg.Agents)
}

// connect runs the agents until the run ends and returns the summary.
func (s *Sim) connect(ctx context.Context, ids []Identity) Summary {
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if s.cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, s.cfg.Duration)
	}
	defer cancel()

	s.agents = make([]*agent, len(ids))
	for i, id := range ids {
		s.agents[i] = &agent{index: i, id: id.ID, secret: id.Secret, upd: agentUpdate{version: s.factsOf(i).AgentVersion}}
	}
	client := s.wsClient()
	defer client.CloseIdleConnections()

	// The heartbeat machinery outlives runCtx a little: it stops only once
	// the summary is taken.
	beatCtx, stopBeats := context.WithCancel(context.WithoutCancel(ctx))
	var beaters sync.WaitGroup
	beats := make(chan *session)
	beaters.Go(func() {
		s.sched.run(beatCtx, beats)
		close(beats)
	})
	for range heartbeatWorkers {
		beaters.Go(func() {
			for sess := range beats {
				s.beat(sess)
			}
		})
	}

	s.setPhase(PhaseConnect)
	var agents sync.WaitGroup
	s.ramp(runCtx, &agents, client)
	<-runCtx.Done()

	sum := s.measure(ctx)
	s.setPhase(PhaseClose)
	stopBeats()
	s.closeAll()
	agents.Wait()
	s.uploads.Wait() // their context ended with the agents'
	s.updates.Wait()
	s.downloads.CloseIdleConnections()
	beaters.Wait()
	return sum
}

// ramp starts the agents, Config.Ramp per second or all at once, until all
// have started or ctx ends.
func (s *Sim) ramp(ctx context.Context, wg *sync.WaitGroup, client *http.Client) {
	start := time.Now()
	var timer *time.Timer
	for i, a := range s.agents {
		if s.cfg.Ramp > 0 && i > 0 {
			due := start.Add(time.Duration(float64(i) / s.cfg.Ramp * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
					defer timer.Stop()
				} else {
					timer.Reset(d)
				}
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.c.started.Add(1)
		wg.Go(func() { s.runAgent(ctx, a, client) })
	}
}

// measure takes the summary while the agents are still connected.
func (s *Sim) measure(ctx context.Context) Summary {
	rtt := s.c.rtt.snapshot()
	sum := Summary{
		Agents:             s.cfg.Agents,
		Connected:          int(s.c.connected.Load()),
		Errors:             s.c.errors.Load(),
		Reconnects:         s.c.reconnects.Load(),
		Commands:           s.c.commands.Load(),
		Scripts:            s.c.scripts.Load(),
		Policies:           s.c.policies.Load(),
		Inventories:        s.c.inventories.Load(),
		Updates:            s.c.upd.stats(),
		TimeToAllConnected: time.Duration(s.c.allConnected.Load()),
		Heartbeats:         rtt.Count(),
		RTTP50:             rtt.Quantile(0.5),
		RTTP99:             rtt.Quantile(0.99),
	}
	// Collect first, so Heap is what the agents hold rather than garbage.
	runtime.GC()
	sum.RSS = residentBytes()
	sum.Heap = heapBytes()
	if s.cfg.ServerMetrics {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		m, err := s.ServerMetrics(sctx)
		if err != nil {
			s.cfg.Log.Warn("scrape server metrics", "err", err)
		} else {
			sum.Server = &m
		}
	}
	return sum
}

// closeAll closes every open connection with a normal closure, a bounded
// number at a time; once CloseTimeout has passed the rest are dropped
// without a close handshake.
func (s *Sim) closeAll() {
	deadline := time.Now().Add(s.cfg.CloseTimeout)
	work := make(chan *session)
	var wg sync.WaitGroup
	for range s.cfg.CloseConcurrency {
		wg.Go(func() {
			for sess := range work {
				if time.Now().After(deadline) {
					sess.ws.CloseNow()
					continue
				}
				sess.ws.Close(websocket.StatusNormalClosure, "simulation over")
			}
		})
	}
	for _, a := range s.agents {
		if sess := a.sess.Load(); sess != nil {
			work <- sess
		}
	}
	close(work)
	wg.Wait()
}

// Stats returns a snapshot of the run. Safe from any goroutine.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	phase, started, connectStart := s.phase, s.started, s.connectStart
	s.mu.Unlock()
	st := Stats{
		Phase:              phase,
		Agents:             s.cfg.Agents,
		Enrolled:           int(s.c.enrolled.Load()),
		EnrollRetries:      s.c.enrollRetries.Load(),
		Started:            int(s.c.started.Load()),
		Connected:          int(s.c.connected.Load()),
		Errors:             s.c.errors.Load(),
		Reconnects:         s.c.reconnects.Load(),
		MessagesIn:         s.c.msgsIn.Load(),
		MessagesOut:        s.c.msgsOut.Load(),
		Commands:           s.c.commands.Load(),
		Scripts:            s.c.scripts.Load(),
		Repeated:           s.c.repeated.Load(),
		Policies:           s.c.policies.Load(),
		Inventories:        s.c.inventories.Load(),
		ServerErrors:       s.c.serverErrors.Load(),
		Updates:            s.c.upd.stats(),
		HeartbeatRTT:       s.c.rtt.snapshot(),
		TimeToAllConnected: time.Duration(s.c.allConnected.Load()),
		RSS:                residentBytes(),
		Heap:               heapBytes(),
		Goroutines:         runtime.NumGoroutine(),
	}
	st.Connecting = max(st.Started-st.Connected, 0)
	if !started.IsZero() {
		st.Elapsed = time.Since(started)
	}
	if !connectStart.IsZero() {
		st.ConnectElapsed = time.Since(connectStart)
	}
	if p := s.c.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// heapBytes is the memory occupied by Go heap objects, live or not yet
// swept.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// wsClient is the HTTP client that dials the control channels. Its
// buffers are small because each hijacked connection keeps its read
// buffer for as long as it lives; there is no proxy, on purpose.
func (s *Sim) wsClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         s.dial,
		ReadBufferSize:      1 << 10,
		WriteBufferSize:     1 << 10,
		TLSHandshakeTimeout: s.cfg.HandshakeTimeout,
		DisableCompression:  true,
	}}
}

// downloadClient fetches release files: ordinary buffers, connections
// kept for reuse, no proxy (like the control channels).
func (s *Sim) downloadClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         s.dial,
		TLSHandshakeTimeout: s.cfg.HandshakeTimeout,
		MaxIdleConnsPerHost: 64,
	}}
}

// dial opens a TCP connection from the next source address, if any.
func (s *Sim) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if s.src != nil {
		d.LocalAddr = &net.TCPAddr{IP: s.src.pick().AsSlice()}
	}
	return d.DialContext(ctx, network, addr)
}
