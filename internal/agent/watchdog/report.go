package watchdog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Status holds what the watchdog last saw of the agent and of the watched
// services, and hands every change to send as a whole report. It is safe
// for concurrent use: the agent's watcher and the services' watcher both
// write to it.
type Status struct {
	send func(protocol.WatchdogReport)

	mu       sync.Mutex
	agent    protocol.AgentHealth
	known    bool // the agent's state has been set once
	services []protocol.WatchedService
}

// NewStatus returns a Status that calls send (which must not block) on
// every change, once the agent's state is known: a report needs it.
func NewStatus(send func(protocol.WatchdogReport)) *Status {
	return &Status{send: send}
}

// Agent records the agent's state (one of protocol.Agent*), why, and the
// restarts since the agent last ran well.
func (s *Status) Agent(state, reason string, restarts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reason = cleanReason(reason)
	if s.known && s.agent.State == state && s.agent.Reason == reason && s.agent.Restarts == restarts {
		return
	}
	if !s.known || s.agent.State != state {
		s.agent.Since = time.Now().UTC()
	}
	s.known = true
	s.agent.State, s.agent.Reason, s.agent.Restarts = state, reason, restarts
	s.sendLocked()
}

// Services records the state of every watched service, in policy order.
func (s *Status) Services(list []protocol.WatchedService) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range list {
		list[i].Reason = cleanReason(list[i].Reason)
	}
	if slices.Equal(s.services, list) {
		return
	}
	s.services = slices.Clone(list)
	if s.known {
		s.sendLocked()
	}
}

// Current returns the agent's state; ok is false until it is known.
func (s *Status) Current() (h protocol.AgentHealth, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agent, s.known
}

func (s *Status) sendLocked() {
	s.send(protocol.WatchdogReport{At: time.Now().UTC(), Version: strings.TrimPrefix(agent.Version, "v"), Agent: s.agent, Services: slices.Clone(s.services)})
}

// cleanReason makes free text fit protocol.WatchdogReport's reason: no
// control characters (an error can carry a child's output), valid UTF-8,
// cut at a rune boundary within protocol.MaxReasonLen.
func cleanReason(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= protocol.MaxReasonLen {
		return s
	}
	cut := protocol.MaxReasonLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Reporter delivers WatchdogReports to the server (protocol.WatchdogPath)
// with the agent's credentials. Only the latest report matters: one set
// while another is being retried replaces it. While the agent is not
// running the last report is sent again every Resend, so that the server
// knows the watchdog itself is alive.
type Reporter struct {
	servers    []string
	credential string
	client     *http.Client
	log        *slog.Logger
	// Resend is the period of repeated reports while the agent is not
	// running; Retry the delays after failed posts. NewReporter sets both.
	Resend time.Duration
	Retry  backoff.Backoff

	mu      sync.Mutex
	latest  protocol.WatchdogReport
	fresh   bool          // latest has not been taken by Run yet
	changed chan struct{} // wakes Run; capacity 1
}

// Reporter defaults.
const (
	DefaultResend   = 5 * time.Minute
	postTimeout     = 30 * time.Second
	maxRetryBackoff = 5 * time.Minute
)

// errRejected marks a report the server refused for good (a 4xx other
// than 408 and 429): sending it again would not help.
var errRejected = errors.New("report rejected")

// NewReporter returns a Reporter that posts to each of servers in turn
// with protocol.FormatCredential(agentID, secret). client nil means a
// default client.
func NewReporter(servers []string, agentID, secret string, client *http.Client, log *slog.Logger) *Reporter {
	if client == nil {
		client = &http.Client{}
	}
	return &Reporter{
		servers:    servers,
		credential: protocol.FormatCredential(agentID, secret),
		client:     client,
		log:        log,
		Resend:     DefaultResend,
		Retry:      backoff.Backoff{Base: time.Second, Cap: maxRetryBackoff},
		changed:    make(chan struct{}, 1),
	}
}

// Set makes rep the report to deliver. It does not block.
func (r *Reporter) Set(rep protocol.WatchdogReport) {
	r.mu.Lock()
	r.latest, r.fresh = rep, true
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *Reporter) take() (protocol.WatchdogReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, ok := r.latest, r.fresh
	r.fresh = false
	return rep, ok
}

// Run delivers reports until ctx is done.
func (r *Reporter) Run(ctx context.Context) {
	var (
		rep  protocol.WatchdogReport
		have bool // rep holds a report
		due  bool // rep has not been delivered
	)
	for {
		if latest, ok := r.take(); ok {
			rep, have, due = latest, true, true
		}
		wait := time.Duration(-1)
		if due {
			err := r.post(ctx, rep)
			switch {
			case err == nil:
				due = false
				r.Retry.Reset()
				r.log.Debug("watchdog report delivered", "agent_state", rep.Agent.State)
			case ctx.Err() != nil:
				return
			case errors.Is(err, errRejected):
				due = false
				r.log.Error("the server refused the watchdog report", "err", err)
			default:
				wait = r.Retry.Next()
				r.log.Warn("cannot deliver the watchdog report; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
			}
		}
		if !due && have && rep.Agent.State != protocol.AgentRunning {
			wait = r.Resend
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-r.changed:
		case <-timer:
			if !due { // the periodic report while the agent is down
				rep.At, due = time.Now().UTC(), true
			}
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// post sends rep to each server in turn until one accepts it.
func (r *Reporter) post(ctx context.Context, rep protocol.WatchdogReport) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode watchdog report: %w", err)
	}
	var errs []error
	for _, base := range r.servers {
		err := r.postTo(ctx, base, body)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

func (r *Reporter) postTo(ctx context.Context, base string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	url := strings.TrimRight(base, "/") + protocol.WatchdogPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	req.Header.Set("Authorization", r.credential)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("post %s: %s: %s: %w", url, resp.Status, bytes.TrimSpace(msg), errRejected)
	default:
		return fmt.Errorf("post %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
}
