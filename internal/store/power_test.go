package store_test

import (
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestLatestPowerResults(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		f := newFleet(t, db, clk)
		// power sends one power command to a and stores its answer
		// (status ok unless failed), returning its ID.
		power := func(a store.Agent, output string, failed bool) string {
			now := clk.Now()
			b, cmds := newCommands(now, time.Hour, 1, a)
			b.Name, cmds[0].Name = protocol.CommandPower, protocol.CommandPower
			mustCreateCommands(t, db, b, cmds)
			status := protocol.ResultOK
			if failed {
				status = protocol.ResultError
			}
			clk.Advance(time.Second)
			mustApply(t, db, store.CommandResult{CommandID: cmds[0].ID, AgentID: a.ID, Status: status, Output: output, At: clk.Now()})
			clk.Advance(time.Minute)
			return cmds[0].ID
		}
		power(f.alpha, `{"action":"reboot"}`, false)
		alphaLatest := power(f.alpha, `{}`, false) // a cancel, newer
		power(f.alpha, `{"action":"shutdown"}`, true)
		bravoOld := power(f.bravo, `{"action":"reboot"}`, false)
		// A ping is no power command.
		b, cmds := newCommands(clk.Now(), time.Hour, 1, f.charlie)
		mustCreateCommands(t, db, b, cmds)
		mustApply(t, db, store.CommandResult{CommandID: cmds[0].ID, AgentID: f.charlie.ID, Status: protocol.ResultOK, Output: `{}`, At: clk.Now()})

		got, err := db.LatestPowerResults(t.Context(), []string{f.alpha.ID, f.bravo.ID, f.charlie.ID, f.delta.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[f.alpha.ID].ID != alphaLatest || got[f.bravo.ID].ID != bravoOld {
			t.Errorf("LatestPowerResults = %v, want alpha's cancel %s and bravo's reboot %s", got, alphaLatest, bravoOld)
		}
		if string(got[f.alpha.ID].Output) != `{}` || got[f.alpha.ID].FinishedAt.IsZero() {
			t.Errorf("alpha's latest = %+v, want output {} and a finish time", got[f.alpha.ID])
		}

		// A week and more later it says nothing any more.
		clk.Advance(9 * 24 * time.Hour)
		if got, err := db.LatestPowerResults(t.Context(), []string{f.alpha.ID, f.bravo.ID}); err != nil || len(got) != 0 {
			t.Errorf("LatestPowerResults after 9 days = %v, %v; want none", got, err)
		}
	})
}
