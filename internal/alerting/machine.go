package alerting

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// What the agent's life on a machine adds to the alerts: a watched service
// that is down, and a help request from the tray. Both are alerts, so they
// are listed, acknowledged, resolved, audited and notified like the
// threshold ones.
const (
	// ServiceRulePrefix starts the rule of a watched service's alert;
	// the service name follows.
	ServiceRulePrefix = "service:"
	// HelpRulePrefix starts the rule of a help request's ticket; the
	// request's ID follows, so every request is its own ticket.
	HelpRulePrefix = "help:"
	// ResolvedByUninstall is who resolved the alerts of an agent that was
	// uninstalled: the note the dashboard shows.
	ResolvedByUninstall = "system (agent uninstalled)"
)

// Uninstall records that an agent was removed from its machine: its
// credentials are refused from now on, it is never reported offline, and
// its unresolved alerts are resolved with a note. A second call changes
// nothing and returns the first time. ip is where the agent called from,
// for the audit log.
func (s *Service) Uninstall(ctx context.Context, agentID, reason, ip string) (store.Uninstalled, error) {
	a, err := s.db.Agent(ctx, agentID)
	if err != nil {
		return store.Uninstalled{}, err
	}
	var (
		u        store.Uninstalled
		resolved []store.Alert
	)
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = tx.MarkUninstalled(ctx, agentID, reason); err != nil || !u.Changed {
			return err
		}
		if resolved, err = tx.ResolveAlertsOfAgent(ctx, agentID, ResolvedByUninstall); err != nil {
			return err
		}
		return tx.AddAudit(ctx, store.AuditEntry{
			ActorType: "agent", ActorID: agentID, ActorName: a.Hostname, Action: "agent.uninstall",
			TargetType: "agent", TargetID: agentID, IP: ip,
			Detail: map[string]string{"reason": reason, "alerts_resolved": strconv.Itoa(len(resolved))},
		})
	})
	if err != nil {
		return store.Uninstalled{}, fmt.Errorf("uninstall agent %s: %w", agentID, err)
	}
	s.mu.Lock()
	s.eval.Forget(agentID)
	delete(s.restored, agentID)
	s.mu.Unlock()
	if len(resolved) > 0 {
		eff := s.effective(ctx, a.ClientID, a.SiteID, agentID)
		for _, al := range resolved {
			s.announce(ctx, Event{Alert: al, Opened: false}, eff)
		}
	}
	return u, nil
}

// effective resolves an agent's policy for routing a notification; on
// failure the default route applies, since the transition stands anyway.
func (s *Service) effective(ctx context.Context, clientID, siteID, agentID string) policy.Effective {
	eff, err := s.policies.For(ctx, clientID, siteID, agentID)
	if err != nil {
		s.log.Error("alert: resolve policy", "agent_id", agentID, "err", err)
		return policy.Resolve()
	}
	return eff
}

// failing reports whether a watched service's state wants an alert.
func failing(ws protocol.WatchedService) bool {
	if !ws.Alert {
		return false
	}
	switch ws.State {
	case protocol.ServiceStopped, protocol.ServiceMissing, protocol.ServiceRestartFailed:
		return true
	}
	return false
}

// serviceMessage describes a watched service's alert for people.
func serviceMessage(ws protocol.WatchedService) string {
	var m string
	switch ws.State {
	case protocol.ServiceMissing:
		m = "Service " + ws.Name + " is missing"
	case protocol.ServiceRestartFailed:
		m = "Service " + ws.Name + " stopped and could not be restarted"
	default:
		m = "Service " + ws.Name + " stopped"
	}
	if ws.Reason != "" {
		m += ": " + ws.Reason
	}
	return m
}

// Watchdog stores an agent's watchdog report and brings the alerts of its
// watched services in line with it: a service the report finds stopped,
// missing or not restartable, whose policy asks for an alert, opens one
// (severity warning); a service's open alert is resolved once a report no
// longer finds it failing (running, restarted, or no longer watched with an
// alert).
func (s *Service) Watchdog(ctx context.Context, agentID, clientID, siteID string, r protocol.WatchdogReport) error {
	if err := s.db.SaveWatchdogReport(ctx, agentID, r); err != nil {
		return err
	}
	open, err := s.db.UnresolvedAlertsWithPrefix(ctx, agentID, ServiceRulePrefix)
	if err != nil {
		return err
	}
	isOpen := map[string]bool{}
	for _, al := range open {
		isOpen[al.Rule] = true
	}
	want := map[string]bool{}
	var (
		eff    policy.Effective
		effSet bool
	)
	route := func() policy.Effective {
		if !effSet {
			eff, effSet = s.effective(ctx, clientID, siteID, agentID), true
		}
		return eff
	}
	now := time.Now()
	for _, ws := range r.Services {
		if !failing(ws) {
			continue
		}
		rule := ServiceRulePrefix + ws.Name
		want[rule] = true
		if isOpen[rule] {
			continue
		}
		if s.silenced(ctx, agentID, clientID, siteID, now) {
			s.log.Info("service alert silenced by a maintenance window", "agent_id", agentID, "service", ws.Name)
			continue
		}
		al, created, err := s.db.OpenAlert(ctx, store.Alert{
			AgentID: agentID, Rule: rule, Metric: "service", Severity: string(policy.SeverityWarning),
			Message: serviceMessage(ws), OpenedAt: now,
		})
		if err != nil {
			return err
		}
		if created {
			s.announce(ctx, Event{Alert: al, Opened: true}, route())
		}
	}
	for _, al := range open {
		if want[al.Rule] {
			continue
		}
		res, changed, err := s.db.ResolveAlertRule(ctx, agentID, al.Rule, now, 0, "system")
		if err != nil {
			return err
		}
		if changed {
			s.announce(ctx, Event{Alert: res, Opened: false}, route())
		}
	}
	return nil
}

// helpMessage is a help ticket's text: who asked and what they wrote. It
// is shown as text (escaped) wherever it appears.
func helpMessage(h protocol.HelpRequest) string {
	return "Help requested by " + h.User + ": " + strings.TrimSpace(h.Message)
}

// HelpRequest records a help request from an agent's tray as a ticket (an
// open alert of severity warning) and notifies like an alert. The request
// is recorded once per agent and ID: a request sent again, because its
// acknowledgement was lost, changes nothing and reports false. A
// maintenance window does not silence it: a person is asking.
func (s *Service) HelpRequest(ctx context.Context, agentID, clientID, siteID string, h protocol.HelpRequest) (bool, error) {
	var (
		al      store.Alert
		created bool
	)
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		var err error
		if _, created, err = tx.AddHelpRequest(ctx, agentID, h); err != nil || !created {
			return err
		}
		al, err = tx.OpenAlert(ctx, store.Alert{
			AgentID: agentID, Rule: HelpRulePrefix + h.ID, Metric: "help", Severity: string(policy.SeverityWarning),
			Message: helpMessage(h), OpenedAt: time.Now(),
		})
		if err != nil {
			return err
		}
		return tx.SetHelpRequestAlert(ctx, agentID, h.ID, al.ID)
	})
	if err != nil {
		return false, fmt.Errorf("record help request %s of %s: %w", h.ID, agentID, err)
	}
	if created {
		s.announce(ctx, Event{Alert: al, Opened: true}, s.effective(ctx, clientID, siteID, agentID))
	}
	return created, nil
}

// HelpDesk records the help requests the hub receives as tickets.
type HelpDesk struct{ Alerts *Service }

var _ hub.HelpHandler = HelpDesk{}

// HelpRequest implements hub.HelpHandler.
func (d HelpDesk) HelpRequest(ctx context.Context, c *hub.Conn, h protocol.HelpRequest) error {
	created, err := d.Alerts.HelpRequest(ctx, c.AgentID, c.ClientID, c.SiteID, h)
	if err == nil && !created {
		d.Alerts.log.Info("help request received again; acknowledged again", "agent_id", c.AgentID, "request_id", h.ID)
	}
	return err
}

// DeleteUninstalled deletes the record of an uninstalled agent for p, with
// its alerts, metrics and history, and audits it. The record of an
// installed agent is kept: its credentials still work, and removing it
// would leave a running agent that can never reconnect without saying why.
func (s *Service) DeleteUninstalled(ctx context.Context, p access.Principal, agentID string) error {
	if err := access.Require(p, access.ManageEnroll); err != nil {
		return err
	}
	a, err := s.db.Agent(ctx, agentID)
	if err != nil {
		return err
	}
	if !a.Uninstalled() {
		return &input.Error{Field: "id", Message: "only the record of an uninstalled agent can be deleted"}
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteAgent(ctx, agentID); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("agent.delete", "agent", agentID, map[string]string{
			"hostname": a.Hostname, "client_id": a.ClientID, "site_id": a.SiteID,
			"uninstalled_at": a.UninstalledAt.UTC().Format(time.RFC3339)}))
	})
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", agentID, err)
	}
	s.mu.Lock()
	s.eval.Forget(agentID)
	delete(s.restored, agentID)
	s.mu.Unlock()
	return nil
}
