package web

import (
	"context"
	"strings"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// scriptSchedule is a schedule of a policy (scripts.schedules) that runs
// a script, for the script's page.
type scriptSchedule struct {
	PolicyID, PolicyName string
	Name, When           string
	Enabled              bool
}

// schedulesOf lists the policies' schedules that run script id. Policies
// are few; each is read from its stored document.
func (h *Handler) schedulesOf(ctx context.Context, id string) ([]scriptSchedule, error) {
	pols, err := h.cfg.DB.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	var out []scriptSchedule
	for _, p := range pols {
		doc, err := policy.Decode(p.Document)
		if err != nil {
			continue // shown as broken on the policy's own page
		}
		v, _ := doc.Get("scripts.schedules")
		list, _ := v.([]policy.ScheduledScript)
		for _, s := range list {
			if s.ScriptID == id {
				out = append(out, scriptSchedule{PolicyID: p.ID, PolicyName: p.Name, Name: s.Name, When: s.When, Enabled: s.Enabled})
			}
		}
	}
	return out, nil
}

// scheduleOfJob names the schedule that started job j, "" for a job a
// person started: the jobs service records "schedule <name>" as its
// creator.
func scheduleOfJob(j store.Job) string {
	name, ok := strings.CutPrefix(j.CreatedBy, "schedule ")
	if !ok {
		return ""
	}
	return name
}

// schedulesValue writes scripts.schedules for people.
func schedulesValue(list []policy.ScheduledScript) string {
	if len(list) == 0 {
		return "none"
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		line := s.Name + ": " + s.When
		if !s.Enabled {
			line += " (disabled)"
		}
		out = append(out, line)
	}
	return strings.Join(out, "; ")
}
