// Package alerting raises and resolves alerts on the server: threshold
// rules evaluated as samples arrive, and the offline rule on a timer. It
// stores each transition (one unresolved alert per agent and rule) and
// announces it on the bus for notifications and live dashboards.
package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/timeseries"
)

// SubjectAlerts carries an Event for every alert transition.
const SubjectAlerts = "steward.alerts"

// Event is an alert that opened or resolved.
type Event struct {
	Alert store.Alert `json:"alert"`
	// Opened is true for a new alert, false for a resolved one.
	Opened bool `json:"opened"`
}

// Policies resolves an agent's effective policy from its client, site and
// agent IDs.
type Policies interface {
	For(ctx context.Context, clientID, siteID, agentID string) (policy.Effective, error)
}

// Notifier is told of every alert transition; it queues notifications for
// the channels in route, the agent's notifications.<severity> policy value.
type Notifier interface {
	AlertChanged(ctx context.Context, a store.Alert, opened bool, route []string)
}

// Service evaluates alert rules.
type Service struct {
	db       *store.DB
	policies Policies
	bus      bus.Bus
	log      *slog.Logger
	notifier Notifier
	// remediator runs a rule's remediation script; nil runs none.
	remediator Remediator

	mu       sync.Mutex
	eval     *Evaluator
	restored map[string]bool // agents whose open alerts were loaded into eval
}

// Remediator starts a remediation script on the agent of an alert that
// opened, and returns the job's ID. The jobs service implements it.
type Remediator interface {
	Remediate(ctx context.Context, a store.Alert, scriptID string) (string, error)
}

// SetRemediator installs the remediator. Call it before serving.
func (s *Service) SetRemediator(r Remediator) { s.remediator = r }

// New returns a Service. notifier may be nil.
func New(db *store.DB, policies Policies, b bus.Bus, log *slog.Logger, notifier Notifier) *Service {
	return &Service{db: db, policies: policies, bus: b, log: log, notifier: notifier, eval: NewEvaluator(), restored: map[string]bool{}}
}

// Observe evaluates an agent's samples, oldest first, and records the
// transitions. Failures are logged: alerting must never hold up ingestion.
func (s *Service) Observe(ctx context.Context, agentID, clientID, siteID string, samples []protocol.Sample) {
	eff, err := s.policies.For(ctx, clientID, siteID, agentID)
	if err != nil {
		s.log.Error("alert rules: resolve policy", "agent_id", agentID, "err", err)
		return
	}
	th := ThresholdsOf(eff)
	s.mu.Lock()
	if !s.restored[agentID] {
		// An agent that moved from another replica or a restarted server
		// may have open alerts: they must resolve, not open again.
		rules, err := s.db.UnresolvedRules(ctx, agentID)
		if err != nil {
			s.mu.Unlock()
			s.log.Error("alert rules: load open alerts", "agent_id", agentID, "err", err)
			return
		}
		for _, r := range rules {
			s.eval.Restore(agentID, r)
		}
		s.restored[agentID] = true
	}
	var transitions []Transition
	for _, sample := range samples {
		transitions = append(transitions, s.eval.Observe(agentID, th, sample.Time, sample.Values)...)
	}
	s.mu.Unlock()
	for _, tr := range transitions {
		s.record(ctx, tr, clientID, siteID, eff)
	}
}

// silenced reports whether a maintenance window covers the agent now.
func (s *Service) silenced(ctx context.Context, agentID, clientID, siteID string, at time.Time) bool {
	in, err := s.db.InMaintenance(ctx, agentID, clientID, siteID, at)
	if err != nil {
		// Better a possibly unwanted alert than a missed one.
		s.log.Error("check maintenance window", "agent_id", agentID, "err", err)
		return false
	}
	return in
}

// record stores a transition and announces it; eff is the agent's
// effective policy now, which routes the notification.
func (s *Service) record(ctx context.Context, tr Transition, clientID, siteID string, eff policy.Effective) {
	if tr.Open {
		if s.silenced(ctx, tr.AgentID, clientID, siteID, time.Now()) {
			s.log.Info("alert silenced by a maintenance window", "agent_id", tr.AgentID, "rule", tr.Rule.Name)
			s.mu.Lock()
			s.eval.Reset(tr.AgentID, tr.Rule.Name)
			s.mu.Unlock()
			return
		}
		a, created, err := s.db.OpenAlert(ctx, store.Alert{
			AgentID: tr.AgentID, Rule: tr.Rule.Name, Metric: tr.Rule.Metric, Severity: string(tr.Rule.Severity),
			Message: message(tr), Value: tr.Value, OpenedAt: tr.At,
		})
		if err != nil {
			s.log.Error("open alert", "agent_id", tr.AgentID, "rule", tr.Rule.Name, "err", err)
			return
		}
		if created {
			if tr.Rule.Remediation != "" {
				a = s.remediate(ctx, a, tr.Rule.Remediation)
			}
			s.announce(ctx, Event{Alert: a, Opened: true}, eff)
		}
		return
	}
	a, changed, err := s.db.ResolveAlertRule(ctx, tr.AgentID, tr.Rule.Name, tr.At, tr.Value, "system")
	if err != nil {
		s.log.Error("resolve alert", "agent_id", tr.AgentID, "rule", tr.Rule.Name, "err", err)
		return
	}
	if changed {
		s.announce(ctx, Event{Alert: a, Opened: false}, eff)
	}
}

// remediate starts the rule's remediation script on the alert's agent and
// records its job on the alert. A failure to start it is logged and the
// alert goes out without it: the alert matters more than its fix.
func (s *Service) remediate(ctx context.Context, a store.Alert, scriptID string) store.Alert {
	if s.remediator == nil {
		return a
	}
	jobID, err := s.remediator.Remediate(ctx, a, scriptID)
	if err == nil {
		err = s.db.SetAlertRemediation(ctx, a.ID, jobID)
	}
	if err != nil {
		s.log.Error("start the alert's remediation script", "alert_id", a.ID, "agent_id", a.AgentID, "rule", a.Rule, "script_id", scriptID, "err", err)
		return a
	}
	s.log.Info("remediation script started", "alert_id", a.ID, "agent_id", a.AgentID, "rule", a.Rule, "job_id", jobID)
	a.RemediationJobID = jobID
	return a
}

// announce notifies the channels the agent's policy routes the alert's
// severity to, and publishes the transition for live dashboards.
func (s *Service) announce(ctx context.Context, ev Event, eff policy.Effective) {
	s.log.Info("alert", "opened", ev.Opened, "agent_id", ev.Alert.AgentID, "rule", ev.Alert.Rule, "severity", ev.Alert.Severity)
	if s.notifier != nil {
		s.notifier.AlertChanged(ctx, ev.Alert, ev.Opened, Route(eff, ev.Alert.Severity))
	}
	b, _ := json.Marshal(ev)
	if err := s.bus.Publish(ctx, SubjectAlerts, b); err != nil {
		s.log.Warn("announce alert", "err", err)
	}
}

// Route returns the notification channels an agent's effective policy
// names for a severity. A severity without a field (none today) goes to
// every channel: better a notification too many than a missed one.
func Route(eff policy.Effective, severity string) []string {
	v, ok := eff.Get("notifications." + severity)
	if ids, isList := v.Value.([]string); ok && isList {
		return ids
	}
	return []string{policy.AllChannels}
}

// message describes a threshold alert for people.
// It reads as people say it: "CPU above 90 % for 5 minutes (now 93 %)".
func message(tr Transition) string {
	r := tr.Rule
	what := map[string]string{"cpu": "CPU", "memory": "Memory"}[r.Name]
	value := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + " %" }
	now := fmt.Sprintf("%.0f %%", tr.Value)
	switch {
	case strings.HasPrefix(r.Name, "disk_free:"):
		what = "Free space on " + strings.TrimPrefix(r.Name, "disk_free:")
		value = func(v float64) string { return policy.HumanBytes(int64(v)) }
		now = value(tr.Value)
	case strings.HasPrefix(r.Name, "disk:"):
		what = "Disk usage on " + strings.TrimPrefix(r.Name, "disk:")
	}
	dir := "above"
	if !r.Above {
		dir = "below"
	}
	lasting := ""
	if r.For > 0 {
		lasting = " for " + policy.HumanDuration(r.For)
	}
	return fmt.Sprintf("%s %s %s%s (now %s)", what, dir, value(r.Trigger), lasting, now)
}

// CheckOffline opens the offline alert of agents offline longer than
// their policy allows and resolves it for agents back online. It is a
// singleton job.
func (s *Service) CheckOffline(ctx context.Context) error {
	// Alerts resolved before a failure are announced all the same: they
	// are resolved in the database and their notifications are owed.
	resolved, resolveErr := s.db.ResolveOfflineAlertsOfOnlineAgents(ctx)
	for _, al := range resolved {
		eff, err := s.policies.For(ctx, al.ClientID, al.SiteID, al.AgentID)
		if err != nil {
			// The resolution stands; only its notification follows the
			// default route.
			s.log.Error("offline alert: resolve policy", "agent_id", al.AgentID, "err", err)
			eff = policy.Resolve()
		}
		s.announce(ctx, Event{Alert: al, Opened: false}, eff)
	}
	if resolveErr != nil {
		return resolveErr
	}
	// The shortest allowed "after" is one minute; agents offline for less
	// cannot be due.
	agents, err := s.db.OfflineSince(ctx, time.Now().Add(-time.Minute))
	if err != nil {
		return err
	}
	now := time.Now()
	for _, a := range agents {
		eff, err := s.policies.For(ctx, a.ClientID, a.SiteID, a.ID)
		if err != nil {
			s.log.Error("offline alert: resolve policy", "agent_id", a.ID, "err", err)
			continue
		}
		after, severity, ok := ThresholdsOf(eff).Offline()
		if !ok || now.Sub(a.LastSeen) < after || s.silenced(ctx, a.ID, a.ClientID, a.SiteID, now) {
			continue
		}
		al, created, err := s.db.OpenAlert(ctx, store.Alert{
			AgentID: a.ID, Rule: "offline", Metric: "", Severity: string(severity), Value: now.Sub(a.LastSeen).Seconds(),
			// The time it was last seen is in the alert's opening time and the
			// agent's page, shown in the reader's time zone; not in UTC here.
			Message: "Agent offline for more than " + policy.HumanDuration(after), OpenedAt: now,
		})
		if err != nil {
			return err
		}
		if created {
			s.announce(ctx, Event{Alert: al, Opened: true}, eff)
		}
	}
	return nil
}

// Ingester stores an agent's samples and then evaluates them; the hub
// hands it every metrics message.
type Ingester struct {
	Series *timeseries.Store
	Alerts *Service
}

var _ hub.MetricsHandler = Ingester{}

// Ingest implements hub.MetricsHandler.
func (i Ingester) Ingest(ctx context.Context, c *hub.Conn, b protocol.MetricsBatch) (protocol.MetricsAck, error) {
	ack, err := i.Series.Ingest(ctx, c.AgentID, b)
	if err != nil {
		return ack, err
	}
	i.Alerts.Observe(ctx, c.AgentID, c.ClientID, c.SiteID, b.Samples)
	return ack, nil
}

// MaxHandled bounds how many alerts one call to Handle changes.
const MaxHandled = 1000

// Handle acknowledges (resolve false) or resolves alerts by hand for p.
// Each change is stored with its audit entry in one transaction. A
// resolution notifies the channels the agent's policy routes it to, like an
// automatic one, and is announced to live dashboards; the rule's evaluation
// starts afresh on this replica, so a condition that persists opens a new
// alert after its duration instead of being forgotten. Alerts already in
// the asked state are returned unchanged; unknown IDs fail a single change
// and are skipped in a bulk one (gone with their agent since the list was
// shown).
func (s *Service) Handle(ctx context.Context, p access.Principal, ids []string, resolve bool) ([]store.Alert, error) {
	if !access.Can(p, access.HandleAlerts) {
		return nil, access.ErrForbidden
	}
	if len(ids) == 0 || len(ids) > MaxHandled {
		return nil, &input.Error{Field: "ids", Message: fmt.Sprintf("give 1 to %d alert ids", MaxHandled)}
	}
	action := "alert.acknowledge"
	if resolve {
		action = "alert.resolve"
	}
	out := make([]store.Alert, 0, len(ids))
	for _, id := range ids {
		var (
			al      store.Alert
			changed bool
		)
		err := s.db.WithTx(ctx, func(tx *store.Tx) error {
			var err error
			if resolve {
				al, changed, err = tx.ResolveAlert(ctx, id, p.ActorName())
			} else {
				al, changed, err = tx.AcknowledgeAlert(ctx, id, p.ActorName())
			}
			if err != nil || !changed {
				return err
			}
			return tx.AddAudit(ctx, p.Audit(action, "alert", id, map[string]string{
				"agent_id": al.AgentID, "hostname": al.Hostname, "rule": al.Rule, "severity": al.Severity}))
		})
		if errors.Is(err, store.ErrNotFound) && len(ids) > 1 {
			continue
		}
		if err != nil {
			return out, err
		}
		if changed && resolve {
			s.mu.Lock()
			s.eval.Reset(al.AgentID, al.Rule)
			s.mu.Unlock()
			eff, err := s.policies.For(ctx, al.ClientID, al.SiteID, al.AgentID)
			if err != nil {
				// The resolution stands; only its notification follows the
				// default route.
				s.log.Error("resolve alert by hand: resolve policy", "agent_id", al.AgentID, "err", err)
				eff = policy.Resolve()
			}
			s.announce(ctx, Event{Alert: al, Opened: false}, eff)
		}
		out = append(out, al)
	}
	return out, nil
}
