package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Vitals is what a technician scans an agents list for, beside each row:
// unresolved alerts, the latest CPU, memory and fullest-disk use, and
// whether a reboot is pending.
type Vitals struct {
	// Alerts counts the unresolved alerts.
	Alerts int `json:"unresolved_alerts"`
	// CPU, Memory and Disk are percentages of the latest sample; nil when
	// the agent sent none since the cut-off. Disk is the fullest mount.
	CPU    *float64 `json:"cpu_percent,omitempty"`
	Memory *float64 `json:"memory_percent,omitempty"`
	Disk   *float64 `json:"disk_percent,omitempty"`
	// DiskMount names the fullest mount.
	DiskMount string `json:"disk_mount,omitempty"`
	// SampledAt is when the latest sample was taken.
	SampledAt time.Time `json:"sampled_at,omitzero"`
	// PendingReboot is from the latest inventory; nil when unknown.
	PendingReboot *bool `json:"pending_reboot,omitempty"`
}

// maxVitalsAgents bounds one AgentVitals call: a page of a list.
const maxVitalsAgents = 500

// AgentVitals returns the vitals of the agents with the given IDs, from
// samples taken at or after since. Agents without any vitals are absent.
//
// It reads each agent's latest sample by its time: one seek per agent for
// the newest CPU or memory row, then the rows taken at those instants,
// which every metric of one sample shares, so no agent's history is
// scanned.
func (db *DB) AgentVitals(ctx context.Context, ids []string, since time.Time) (map[string]Vitals, error) {
	out := map[string]Vitals{}
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > maxVitalsAgents {
		return nil, fmt.Errorf("vitals of %d agents: at most %d at a time", len(ids), maxVitalsAgents)
	}
	in, args := inList(1, ids)
	get := func(id string) Vitals { return out[id] }

	rows, err := db.sql.QueryContext(ctx, `SELECT agent_id, COUNT(*) FROM alerts
		WHERE state <> 'resolved' AND agent_id IN (`+in+`) GROUP BY agent_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("count alerts of agents: %w", err)
	}
	if err := scanEach(rows, func(r row) error {
		var (
			id string
			n  int
		)
		if err := r.Scan(&id, &n); err != nil {
			return err
		}
		v := get(id)
		v.Alerts = n
		out[id] = v
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count alerts of agents: %w", err)
	}

	rows, err = db.sql.QueryContext(ctx, `SELECT agent_id, MAX(at) FROM samples
		WHERE agent_id IN (`+in+`) AND metric IN ('cpu.percent', 'memory.percent') AND at >= $`+fmt.Sprint(len(ids)+1)+`
		GROUP BY agent_id`, append(args, ms(since))...)
	if err != nil {
		return nil, fmt.Errorf("latest samples of agents: %w", err)
	}
	latest := map[string]int64{}
	if err := scanEach(rows, func(r row) error {
		var (
			id string
			at int64
		)
		if err := r.Scan(&id, &at); err != nil {
			return err
		}
		latest[id] = at
		return nil
	}); err != nil {
		return nil, fmt.Errorf("latest samples of agents: %w", err)
	}
	if len(latest) > 0 {
		agents := make([]string, 0, len(latest))
		ats := make([]any, 0, len(latest))
		for id, at := range latest {
			agents = append(agents, id)
			ats = append(ats, at)
		}
		inAgents, agentArgs := inList(1, agents)
		inAts := placeholders(len(agents)+1, len(ats))
		// "agent_id || ''" keeps the planner on the time index: by
		// agent it would read every metric of the agents' whole history.
		rows, err = db.sql.QueryContext(ctx, `SELECT agent_id, metric, at, value FROM samples
			WHERE at IN (`+inAts+`) AND agent_id || '' IN (`+inAgents+`)
			AND (metric IN ('cpu.percent', 'memory.percent') OR metric LIKE 'disk.percent:%')`,
			append(agentArgs, ats...)...)
		if err != nil {
			return nil, fmt.Errorf("read latest samples of agents: %w", err)
		}
		if err := scanEach(rows, func(r row) error {
			var (
				id, metric string
				at         int64
				value      float64
			)
			if err := r.Scan(&id, &metric, &at, &value); err != nil {
				return err
			}
			if at != latest[id] {
				return nil // another agent's instant
			}
			v := get(id)
			v.SampledAt = fromMS(at)
			switch name, mount, _ := protocol.SplitMetric(metric); name {
			case "cpu.percent":
				v.CPU = &value
			case "memory.percent":
				v.Memory = &value
			case "disk.percent":
				if v.Disk == nil || value > *v.Disk {
					v.Disk, v.DiskMount = &value, mount
				}
			}
			out[id] = v
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read latest samples of agents: %w", err)
		}
	}

	rows, err = db.sql.QueryContext(ctx, `SELECT agent_id, os FROM agent_inventory WHERE agent_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("inventory of agents: %w", err)
	}
	if err := scanEach(rows, func(r row) error {
		var id, raw string
		if err := r.Scan(&id, &raw); err != nil {
			return err
		}
		var os protocol.OSInfo
		if err := json.Unmarshal([]byte(raw), &os); err != nil {
			return fmt.Errorf("inventory of agent %s: %w", id, err)
		}
		if os.PendingReboot != nil {
			v := get(id)
			v.PendingReboot = os.PendingReboot
			out[id] = v
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("inventory of agents: %w", err)
	}
	return out, nil
}

// inList returns "$first, $first+1, ..." for vals and vals as arguments.
func inList(first int, vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return placeholders(first, len(vals)), args
}

// placeholders returns n numbered placeholders from $first.
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

// scanEach calls fn for every row and closes rows.
func scanEach(rows *sql.Rows, fn func(row) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
