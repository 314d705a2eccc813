package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// powerLookBack bounds how old an answered power command can be and still
// say what is pending: a request acts within a week (the protocol's
// MaxPowerDelay), so one answered long before has acted or was lost.
const powerLookBack = 8 * 24 * time.Hour

// LatestPowerResults returns, per agent, the newest power command the
// agent answered (state done) within the look-back window; agents without
// one are absent. What it means for the agent (is a reboot pending?) is
// command.PowerPending's to say.
func (db *DB) LatestPowerResults(ctx context.Context, agentIDs []string) (map[string]Command, error) {
	out := map[string]Command{}
	n := db.dialect.rowsPerStatement()
	since := ms(db.now().Add(-powerLookBack))
	for start := 0; start < len(agentIDs); start += n {
		chunk := agentIDs[start:min(start+n, len(agentIDs))]
		args := []any{since}
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", i+2)
		}
		// state || '' keeps SQLite on commands_agent rather than walking
		// every done command through commands_open.
		cmds, err := queryAll(ctx, db.sql, "load power results", scanCommand, `SELECT `+commandColumns+` FROM commands
			WHERE agent_id IN (`+strings.Join(ph, ", ")+`) AND created_at > $1 AND name = 'power' AND state || '' = 'done'
			ORDER BY finished_at, id`, args...)
		if err != nil {
			return nil, err
		}
		for _, c := range cmds {
			out[c.AgentID] = c // ascending: the newest wins
		}
	}
	return out, nil
}
