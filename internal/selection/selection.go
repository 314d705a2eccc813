// Package selection resolves which agents a request names: a list of
// agents, a site or a client. Bulk actions (updates, scripts) share it so
// that one selection means the same agents everywhere.
package selection

import (
	"context"
	"errors"
	"fmt"

	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
)

// Selection names agents: exactly one of its fields is set.
type Selection struct {
	AgentIDs []string `json:"agent_ids"`
	SiteID   string   `json:"site_id"`
	ClientID string   `json:"client_id"`
}

// Resolved is what a selection names.
type Resolved struct {
	// Agents are the installed agents.
	Agents []store.Agent
	// Target describes the selection for the audit log.
	Target string
	// Uninstalled counts the agents named by ID that are uninstalled,
	// left out of Agents.
	Uninstalled int
}

// Resolve returns the installed agents sel names, at most max of them. An
// agent ID that does not exist is an input error.
func Resolve(ctx context.Context, db *store.DB, sel Selection, max int) (Resolved, error) {
	agents, target, uninstalled, err := resolve(ctx, db, sel, max)
	return Resolved{Agents: agents, Target: target, Uninstalled: uninstalled}, err
}

func resolve(ctx context.Context, db *store.DB, sel Selection, max int) ([]store.Agent, string, int, error) {
	installed := false
	var (
		f      = store.AgentFilter{Uninstalled: &installed}
		target string
	)
	switch {
	case len(sel.AgentIDs) > 0 && sel.SiteID == "" && sel.ClientID == "":
		if len(sel.AgentIDs) > max {
			return nil, "", 0, input.Errorf("agent_ids", "at most %d agents at once", max)
		}
		seen := make(map[string]bool, len(sel.AgentIDs))
		uninstalled := 0
		out := make([]store.Agent, 0, len(sel.AgentIDs))
		for _, id := range sel.AgentIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			a, err := db.Agent(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, "", 0, input.Errorf("agent_ids", "no agent %s", id)
			}
			if err != nil {
				return nil, "", 0, err
			}
			if a.Uninstalled() {
				uninstalled++
				continue
			}
			out = append(out, a)
		}
		target = fmt.Sprintf("%d agents", len(seen))
		if len(seen) == 1 {
			target = "agent " + sel.AgentIDs[0]
		}
		return out, target, uninstalled, nil
	case sel.SiteID != "" && len(sel.AgentIDs) == 0 && sel.ClientID == "":
		f.SiteID, target = sel.SiteID, "site "+sel.SiteID
	case sel.ClientID != "" && len(sel.AgentIDs) == 0 && sel.SiteID == "":
		f.ClientID, target = sel.ClientID, "client "+sel.ClientID
	default:
		return nil, "", 0, input.Errorf("target", "name exactly one of agent_ids, site_id or client_id")
	}
	agents, total, err := db.ListAllAgents(ctx, f, max)
	if err != nil {
		return nil, "", 0, err
	}
	if total > max {
		return nil, "", 0, input.Errorf("target", "%d agents; at most %d at once", total, max)
	}
	if len(agents) == 0 {
		return nil, "", 0, input.Errorf("target", "no agent matches")
	}
	return agents, target, 0, nil
}
