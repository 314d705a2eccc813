package web

import (
	"net/http"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// watchdogView is what the agents list and the agent page say about an
// agent that is not connected, from its watchdog's latest report.
type watchdogView struct {
	// Down is true when the watchdog finds the agent down, hung or
	// restarting; false when it finds it running but the server does not
	// hear from it (a network or credential problem, not a crash).
	Down bool
	// Reason is the state and, if given, why: "hung: no answer to health".
	Reason   string
	Since    time.Time
	Restarts int
}

// watchdogOf returns what to say of an agent's watchdog, or nil: nothing
// while the agent is connected or uninstalled, nor for a report older than
// its last connection (the watchdog reports changes; a report from before
// the agent came back is stale).
func watchdogOf(a store.Agent) *watchdogView {
	w := a.Watchdog
	if a.Online || a.Uninstalled() || w == nil || w.ReceivedAt.Before(a.ConnectedAt) {
		return nil
	}
	if w.State == protocol.AgentRunning {
		return &watchdogView{Since: w.Since}
	}
	reason := w.State
	if w.Reason != "" {
		reason += ": " + w.Reason
	}
	return &watchdogView{Down: true, Reason: reason, Since: w.Since, Restarts: w.Restarts}
}

// deleteAgent serves POST /agents/{id}/delete: a technician removes the
// record of an agent that was uninstalled.
func (h *Handler) deleteAgent(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.cfg.Alerts.DeleteUninstalled(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/agents?status=uninstalled", http.StatusSeeOther)
	return nil
}
