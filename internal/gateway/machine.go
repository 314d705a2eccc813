package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
)

// readMachineBody reads a body of UninstallPath or WatchdogPath, bounded
// by protocol.MaxMachineBodyBytes, and answers 413 or 400 itself when it
// cannot.
func (g *Gateway) readMachineBody(w http.ResponseWriter, r *http.Request, what string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxMachineBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		g.hub.CountRejected(what + "_too_large")
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s body is larger than %d bytes", what, protocol.MaxMachineBodyBytes))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "read "+what+" body: "+err.Error())
		return nil, false
	}
	return body, true
}

// uninstall records that the agent was removed from its machine (see
// protocol.UninstallPath) and closes its control connection. It answers
// 204 again to an agent already uninstalled, whose credentials work here
// and nowhere else, so that an uninstall that lost its answer can repeat.
func (g *Gateway) uninstall(w http.ResponseWriter, r *http.Request) {
	ip := access.ClientIP(r, g.trustProxy)
	agent, ok := g.authorize(w, r, ip)
	if !ok {
		return
	}
	body, ok := g.readMachineBody(w, r, "uninstall")
	if !ok {
		return
	}
	u, err := protocol.DecodeUninstall(body)
	if err != nil {
		g.hub.CountRejected("uninstall_bad_request")
		writeError(w, http.StatusBadRequest, "invalid uninstall request: "+err.Error())
		return
	}
	done, err := g.machines.Uninstall(r.Context(), agent.ID, u.Reason, ip)
	if err != nil && abandoned(r) {
		g.log.Info("uninstall abandoned by the agent", "agent_id", agent.ID, "err", err)
		return
	}
	if err != nil {
		g.log.Error("uninstall agent", "agent_id", agent.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "uninstall not recorded because of a server error")
		return
	}
	if done.Changed {
		g.log.Info("agent uninstalled", "agent_id", agent.ID, "ip", ip, "reason", u.Reason)
	}
	// Also when it was uninstalled before: a connection that slipped in
	// between must not stay.
	if err := g.hub.Revoke(r.Context(), agent.ID); err != nil {
		g.log.Warn("close the connection of an uninstalled agent", "agent_id", agent.ID, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// watchdog stores a watchdog report (see protocol.WatchdogPath).
func (g *Gateway) watchdog(w http.ResponseWriter, r *http.Request) {
	ip := access.ClientIP(r, g.trustProxy)
	agent, ok := g.authorizeInstalled(w, r, ip)
	if !ok {
		return
	}
	// Every report counts, stored or refused, as for inventory.
	if ok, wait := g.watchdogLimiter.Allow(agent.ID); !ok {
		g.hub.CountRejected("watchdog_rate_limited")
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests,
			fmt.Sprintf("more than %d watchdog reports in %v; try again later", maxWatchdogReports, watchdogWindow))
		return
	}
	g.watchdogLimiter.Fail(agent.ID)
	body, ok := g.readMachineBody(w, r, "watchdog")
	if !ok {
		return
	}
	rep, err := protocol.DecodeWatchdogReport(body)
	if err != nil {
		g.hub.CountRejected("watchdog_bad_request")
		g.log.Info("watchdog report rejected", "agent_id", agent.ID, "ip", ip, "reason", err)
		writeError(w, http.StatusBadRequest, "invalid watchdog report: "+err.Error())
		return
	}
	if err := g.machines.Watchdog(r.Context(), agent.ID, agent.ClientID, agent.SiteID, rep); err != nil {
		if abandoned(r) {
			g.log.Info("watchdog report abandoned by the agent", "agent_id", agent.ID, "err", err)
			return
		}
		g.log.Error("store watchdog report", "agent_id", agent.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "watchdog report not stored because of a server error")
		return
	}
	g.log.Info("watchdog report", "agent_id", agent.ID, "state", rep.Agent.State, "reason", rep.Agent.Reason,
		"services", len(rep.Services))
	w.WriteHeader(http.StatusNoContent)
}
