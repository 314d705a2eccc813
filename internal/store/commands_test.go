package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// newCommands builds n queued ping commands in one batch, spread round-robin
// over agents, created now and expiring after ttl.
func newCommands(now time.Time, ttl time.Duration, n int, agents ...store.Agent) (store.CommandBatch, []store.Command) {
	b := store.CommandBatch{ID: store.NewID(), Name: protocol.CommandPing, Target: "test", CreatedBy: "tester", CreatedAt: now, Agents: len(agents)}
	cmds := make([]store.Command, n)
	for i := range cmds {
		cmds[i] = store.Command{
			ID: store.NewID(), BatchID: b.ID, AgentID: agents[i%len(agents)].ID, Name: protocol.CommandPing,
			State: store.CommandQueued, CreatedBy: "tester", CreatedAt: now, ExpiresAt: now.Add(ttl),
		}
	}
	return b, cmds
}

func mustCreateCommands(t *testing.T, db *store.DB, b store.CommandBatch, cmds []store.Command) {
	t.Helper()
	err := db.WithTx(t.Context(), func(tx *store.Tx) error { return tx.CreateCommands(t.Context(), b, cmds) })
	if err != nil {
		t.Fatalf("CreateCommands(%d commands): %v", len(cmds), err)
	}
}

func mustCommand(t *testing.T, db *store.DB, id string) store.Command {
	t.Helper()
	c, err := db.Command(t.Context(), id)
	if err != nil {
		t.Fatalf("Command(%s): %v", id, err)
	}
	return c
}

func mustBatch(t *testing.T, db *store.DB, id string) store.BatchStatus {
	t.Helper()
	b, err := db.CommandBatch(t.Context(), id)
	if err != nil {
		t.Fatalf("CommandBatch(%s): %v", id, err)
	}
	return b
}

func mustApply(t *testing.T, db *store.DB, results ...store.CommandResult) int {
	t.Helper()
	n, err := db.ApplyResults(t.Context(), results)
	if err != nil {
		t.Fatalf("ApplyResults(%d results): %v", len(results), err)
	}
	return n
}

func ids(cmds []store.Command) []string {
	out := []string{}
	for _, c := range cmds {
		out = append(out, c.ID)
	}
	return out
}

func TestCommandTargets(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		f := newFleet(t, db, clk) // alpha and delta online on r1
		connect(t, db, f.bravo, "r2")
		yes := true
		tests := []struct {
			name     string
			filter   store.AgentFilter
			agentIDs []string
			want     []store.CommandTarget
		}{
			{"every agent", store.AgentFilter{}, nil, []store.CommandTarget{
				{AgentID: f.alpha.ID, ReplicaID: "r1", Online: true},
				{AgentID: f.bravo.ID, ReplicaID: "r2", Online: true},
				{AgentID: f.charlie.ID},
				{AgentID: f.delta.ID, ReplicaID: "r1", Online: true},
				{AgentID: f.echo.ID},
			}},
			{"online", store.AgentFilter{Online: &yes}, nil, []store.CommandTarget{
				{AgentID: f.alpha.ID, ReplicaID: "r1", Online: true},
				{AgentID: f.bravo.ID, ReplicaID: "r2", Online: true},
				{AgentID: f.delta.ID, ReplicaID: "r1", Online: true},
			}},
			{"agent IDs", store.AgentFilter{}, []string{f.echo.ID, f.alpha.ID, f.echo.ID, store.NewID()}, []store.CommandTarget{
				{AgentID: f.alpha.ID, ReplicaID: "r1", Online: true},
				{AgentID: f.echo.ID},
			}},
			{"agent IDs within a filter", store.AgentFilter{ClientID: f.acme.ID, Query: "a"},
				[]string{f.alpha.ID, f.bravo.ID, f.charlie.ID, f.delta.ID}, []store.CommandTarget{
					{AgentID: f.alpha.ID, ReplicaID: "r1", Online: true},
					{AgentID: f.charlie.ID},
				}},
			{"no match", store.AgentFilter{OS: "plan9"}, nil, nil},
			{"unknown agent", store.AgentFilter{}, []string{store.NewID()}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.CommandTargets(t.Context(), tt.filter, tt.agentIDs)
				if err != nil {
					t.Fatalf("CommandTargets: %v", err)
				}
				// Results are ordered by agent ID, and IDs ascend in
				// enrollment order.
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("CommandTargets(%+v, %d IDs) (-want +got):\n%s", tt.filter, len(tt.agentIDs), diff)
				}
			})
		}
	})
}

func TestCommandLifecycle(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		owner := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "owner"})
		other := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "other"})
		now := clk.Now().Truncate(time.Millisecond)
		b, cmds := newCommands(now, time.Minute, 1, owner)
		cmds[0].Args = json.RawMessage(`{"n":1}`)
		mustCreateCommands(t, db, b, cmds)

		got := mustCommand(t, db, cmds[0].ID)
		if diff := cmp.Diff(cmds[0], got); diff != "" {
			t.Fatalf("stored command (-want +got):\n%s", diff)
		}
		if _, err := db.Command(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Command(unknown) error = %v, want ErrNotFound", err)
		}

		sentAt := now.Add(time.Second)
		if err := db.MarkCommandsSent(ctx, []string{cmds[0].ID, store.NewID()}, sentAt); err != nil {
			t.Fatalf("MarkCommandsSent: %v", err)
		}
		// A second mark (a redelivery) keeps the first time.
		if err := db.MarkCommandsSent(ctx, []string{cmds[0].ID}, sentAt.Add(time.Second)); err != nil {
			t.Fatalf("MarkCommandsSent again: %v", err)
		}
		got = mustCommand(t, db, cmds[0].ID)
		if got.State != store.CommandSent || !got.SentAt.Equal(sentAt) {
			t.Errorf("after MarkCommandsSent: state %s sent_at %v, want sent at %v", got.State, got.SentAt, sentAt)
		}

		// Answers from the wrong agent or for unknown commands do nothing:
		// an agent can only answer its own commands.
		at := now.Add(2 * time.Second)
		forged := []store.CommandResult{
			{CommandID: cmds[0].ID, AgentID: other.ID, Status: protocol.ResultOK, Output: `{"forged":true}`, At: at},
			{CommandID: store.NewID(), AgentID: owner.ID, Status: protocol.ResultOK, Output: `{}`, At: at},
		}
		if n := mustApply(t, db, forged...); n != 0 {
			t.Errorf("ApplyResults(forged and unknown) applied %d, want 0", n)
		}
		if got := mustCommand(t, db, cmds[0].ID); got.State != store.CommandSent || got.Output != nil {
			t.Fatalf("after a foreign answer: state %s output %s, want sent without output", got.State, got.Output)
		}

		if n := mustApply(t, db, store.CommandResult{CommandID: cmds[0].ID, AgentID: owner.ID, Status: protocol.ResultOK,
			Output: `{"agent_time":"2026-05-01T12:00:00Z"}`, At: at}); n != 1 {
			t.Fatalf("ApplyResults(owner) applied %d, want 1", n)
		}
		want := cmds[0]
		want.State, want.SentAt, want.FinishedAt = store.CommandDone, sentAt, at
		want.ResultStatus, want.Output = protocol.ResultOK, json.RawMessage(`{"agent_time":"2026-05-01T12:00:00Z"}`)
		if diff := cmp.Diff(want, mustCommand(t, db, cmds[0].ID)); diff != "" {
			t.Errorf("answered command (-want +got):\n%s", diff)
		}
		// A finished command takes no further answer.
		if n := mustApply(t, db, store.CommandResult{CommandID: cmds[0].ID, AgentID: owner.ID, Status: protocol.ResultError,
			Error: "late", At: at.Add(time.Second)}); n != 0 {
			t.Errorf("ApplyResults(second answer) applied %d, want 0", n)
		}
		if diff := cmp.Diff(want, mustCommand(t, db, cmds[0].ID)); diff != "" {
			t.Errorf("command after a second answer (-want +got):\n%s", diff)
		}
	})
}

// An agent that restarted answers a command offered again, whose good
// answer it sent before the restart, with an error ("not run twice"). When
// both wait in one batch (the server had not stored the first yet), the
// first answer is stored, whatever order the database joins them in; an
// answer forged by another agent does not hide the owner's.
func TestApplyResultsFirstAnswerCounts(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		other := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "other"})
		now := clk.Now()
		b, cmds := newCommands(now, time.Minute, 3, a)
		mustCreateCommands(t, db, b, cmds)
		at := now.Add(time.Second).Truncate(time.Millisecond)
		good := func(id string) store.CommandResult {
			return store.CommandResult{CommandID: id, AgentID: a.ID, Status: protocol.ResultOK, Output: `{"x":1}`, At: at}
		}
		ranBefore := func(id string) store.CommandResult {
			return store.CommandResult{CommandID: id, AgentID: a.ID, Status: protocol.ResultError, Error: "not run twice", At: at.Add(time.Second)}
		}
		forged := store.CommandResult{CommandID: cmds[2].ID, AgentID: other.ID, Status: protocol.ResultError, Error: "forged", At: at}
		if n := mustApply(t, db, good(cmds[0].ID), ranBefore(cmds[0].ID), ranBefore(cmds[1].ID), good(cmds[1].ID), forged, good(cmds[2].ID)); n != 3 {
			t.Errorf("ApplyResults applied %d, want 3", n)
		}
		for i, want := range []string{store.CommandDone, store.CommandFailed, store.CommandDone} {
			if c := mustCommand(t, db, cmds[i].ID); c.State != want {
				t.Errorf("command %d: state %s (status %s, error %q), want %s from its first answer", i, c.State, c.ResultStatus, c.Error, want)
			}
		}
	})
}

func TestApplyResultsStatuses(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		now := clk.Now()
		b, cmds := newCommands(now, time.Minute, 4, a)
		mustCreateCommands(t, db, b, cmds)
		at := now.Add(time.Second).Truncate(time.Millisecond)
		// All still queued: an answer can overtake the sent mark.
		results := []store.CommandResult{
			{CommandID: cmds[0].ID, AgentID: a.ID, Status: protocol.ResultOK, Output: `{"x":1}`, At: at},
			{CommandID: cmds[1].ID, AgentID: a.ID, Status: protocol.ResultError, Error: "disk full", At: at},
			{CommandID: cmds[2].ID, AgentID: a.ID, Status: protocol.ResultUnsupported, Error: "unknown command", At: at},
			// The same answer twice in one statement updates the row once.
			{CommandID: cmds[3].ID, AgentID: a.ID, Status: protocol.ResultOK, At: at},
			{CommandID: cmds[3].ID, AgentID: a.ID, Status: protocol.ResultOK, At: at},
		}
		if n := mustApply(t, db, results...); n != 4 {
			t.Errorf("ApplyResults applied %d, want 4", n)
		}
		if n := mustApply(t, db); n != 0 {
			t.Errorf("ApplyResults() applied %d, want 0", n)
		}
		tests := []struct {
			state, status, output, err string
		}{
			{store.CommandDone, protocol.ResultOK, `{"x":1}`, ""},
			{store.CommandFailed, protocol.ResultError, "", "disk full"},
			{store.CommandFailed, protocol.ResultUnsupported, "", "unknown command"},
			{store.CommandDone, protocol.ResultOK, "", ""},
		}
		for i, tt := range tests {
			c := mustCommand(t, db, cmds[i].ID)
			if c.State != tt.state || c.ResultStatus != tt.status || string(c.Output) != tt.output || c.Error != tt.err {
				t.Errorf("command %d = state %s status %s output %q error %q, want %s %s %q %q",
					i, c.State, c.ResultStatus, c.Output, c.Error, tt.state, tt.status, tt.output, tt.err)
			}
			if !c.SentAt.Equal(at) || !c.FinishedAt.Equal(at) {
				t.Errorf("command %d sent_at %v finished_at %v, want both %v", i, c.SentAt, c.FinishedAt, at)
			}
		}
		st := mustBatch(t, db, b.ID)
		wantStates := map[string]int{store.CommandQueued: 0, store.CommandSent: 0, store.CommandDone: 2, store.CommandFailed: 2, store.CommandExpired: 0}
		if diff := cmp.Diff(wantStates, st.States); diff != "" || st.Finished != 4 {
			t.Errorf("batch finished %d, states (-want +got):\n%s", st.Finished, diff)
		}
	})
}

// TestCommandsChunked writes, marks and answers more commands than one
// statement holds, across several chunk boundaries.
func TestCommandsChunked(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		agents := []store.Agent{
			mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"}),
			mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "b"}),
			mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "c"}),
		}
		now := clk.Now().Truncate(time.Millisecond)
		const n = 1201
		b, cmds := newCommands(now, time.Hour, n, agents...)
		mustCreateCommands(t, db, b, cmds)

		checkStates := func(when string, want map[string]int) {
			t.Helper()
			st := mustBatch(t, db, b.ID)
			full := map[string]int{store.CommandQueued: 0, store.CommandSent: 0, store.CommandDone: 0, store.CommandFailed: 0, store.CommandExpired: 0}
			for k, v := range want {
				full[k] = v
			}
			if diff := cmp.Diff(full, st.States); diff != "" {
				t.Errorf("%s: batch states (-want +got):\n%s", when, diff)
			}
		}
		checkStates("created", map[string]int{store.CommandQueued: n})
		for _, i := range []int{0, 499, 500, 501, 999, 1000, 1200} {
			if diff := cmp.Diff(cmds[i], mustCommand(t, db, cmds[i].ID)); diff != "" {
				t.Errorf("command %d (-want +got):\n%s", i, diff)
			}
		}
		for i, a := range agents {
			_, total, err := db.ListAgentCommands(ctx, a.ID, store.Page{Limit: 1})
			if err != nil {
				t.Fatalf("ListAgentCommands: %v", err)
			}
			if want := n/3 + map[bool]int{true: 1}[i < n%3]; total != want {
				t.Errorf("agent %d has %d commands, want %d", i, total, want)
			}
		}

		if err := db.MarkCommandsSent(ctx, ids(cmds), now); err != nil {
			t.Fatalf("MarkCommandsSent(%d): %v", n, err)
		}
		checkStates("sent", map[string]int{store.CommandSent: n})

		results := make([]store.CommandResult, n)
		for i, c := range cmds {
			results[i] = store.CommandResult{CommandID: c.ID, AgentID: c.AgentID, Status: protocol.ResultOK, Output: fmt.Sprintf(`{"i":%d}`, i), At: now}
		}
		// One answer in the last chunk comes from the wrong agent.
		results[1100].AgentID = agents[(1100+1)%3].ID
		if got := mustApply(t, db, results...); got != n-1 {
			t.Errorf("ApplyResults(%d) applied %d, want %d", n, got, n-1)
		}
		checkStates("answered", map[string]int{store.CommandSent: 1, store.CommandDone: n - 1})
		if got := mustCommand(t, db, cmds[1000].ID); string(got.Output) != `{"i":1000}` {
			t.Errorf("command 1000 output = %s, want {\"i\":1000}", got.Output)
		}
	})
}

// TestCreateCommandsAtomic checks that a failure in a later chunk leaves
// neither the batch nor the earlier chunks behind.
func TestCreateCommandsAtomic(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		b, cmds := newCommands(clk.Now(), time.Hour, 700, a)
		cmds[650].ID = cmds[10].ID
		err := db.WithTx(t.Context(), func(tx *store.Tx) error { return tx.CreateCommands(t.Context(), b, cmds) })
		if err == nil {
			t.Fatal("CreateCommands with a duplicate ID succeeded, want an error")
		}
		if _, err := db.CommandBatch(t.Context(), b.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CommandBatch after a failed create: error %v, want ErrNotFound", err)
		}
		if _, total, err := db.ListAgentCommands(t.Context(), a.ID, store.Page{}); err != nil || total != 0 {
			t.Errorf("ListAgentCommands after a failed create = %d, %v; want 0, nil", total, err)
		}
	})
}

func TestExpireCommands(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		now := clk.Now().Truncate(time.Millisecond)
		b, cmds := newCommands(now, time.Minute, 4, a) // queued, sent, done, later
		cmds[3].ExpiresAt = now.Add(time.Hour)
		mustCreateCommands(t, db, b, cmds)
		if err := db.MarkCommandsSent(ctx, []string{cmds[1].ID}, now); err != nil {
			t.Fatal(err)
		}
		mustApply(t, db, store.CommandResult{CommandID: cmds[2].ID, AgentID: a.ID, Status: protocol.ResultOK, At: now})

		clk.Advance(time.Minute - time.Millisecond)
		if n, err := db.ExpireCommands(ctx); err != nil || n != 0 {
			t.Errorf("ExpireCommands before the deadline = %d, %v; want 0, nil", n, err)
		}
		clk.Advance(time.Millisecond) // exactly at expires_at
		if n, err := db.ExpireCommands(ctx); err != nil || n != 2 {
			t.Errorf("ExpireCommands at the deadline = %d, %v; want 2, nil", n, err)
		}
		for i, want := range []string{store.CommandExpired, store.CommandExpired, store.CommandDone, store.CommandQueued} {
			c := mustCommand(t, db, cmds[i].ID)
			if c.State != want {
				t.Errorf("command %d state = %s, want %s", i, c.State, want)
			}
			if want == store.CommandExpired && !c.FinishedAt.Equal(clk.Now()) {
				t.Errorf("command %d finished_at = %v, want %v", i, c.FinishedAt, clk.Now())
			}
		}
		// A late answer does not revive an expired command.
		if n := mustApply(t, db, store.CommandResult{CommandID: cmds[1].ID, AgentID: a.ID, Status: protocol.ResultOK, At: clk.Now()}); n != 0 {
			t.Errorf("ApplyResults(late) applied %d, want 0", n)
		}
		if n, err := db.ExpireCommands(ctx); err != nil || n != 0 {
			t.Errorf("ExpireCommands again = %d, %v; want 0, nil", n, err)
		}
		st := mustBatch(t, db, b.ID)
		if st.States[store.CommandExpired] != 2 || st.Finished != 3 {
			t.Errorf("batch expired %d finished %d, want 2 and 3", st.States[store.CommandExpired], st.Finished)
		}
	})
}

func TestOpenCommands(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		other := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "other"})
		now := clk.Now().Truncate(time.Millisecond)

		// Two batches, the newer created first in the slice order, so the
		// result order comes from created_at.
		b2, newer := newCommands(now.Add(time.Second), time.Minute, 3, a)
		b1, older := newCommands(now, time.Minute, 4, a, other) // a, other, a, other
		mustCreateCommands(t, db, b2, newer)
		mustCreateCommands(t, db, b1, older)
		_, stale := newCommands(now.Add(-time.Hour), time.Minute, 1, a) // past its deadline, not yet swept
		mustCreateCommands(t, db, store.CommandBatch{ID: stale[0].BatchID, Name: "ping", CreatedAt: now}, stale)
		if err := db.MarkCommandsSent(ctx, []string{newer[1].ID, newer[2].ID}, now); err != nil {
			t.Fatal(err)
		}
		if n, err := db.ApplyResults(ctx, []store.CommandResult{{CommandID: newer[2].ID, AgentID: a.ID, Status: "ok", At: now}}); err != nil || n != 1 {
			t.Fatalf("ApplyResults = %d, %v", n, err)
		}
		byID := func(cs ...store.Command) []string {
			out := ids(cs)
			slices.Sort(out)
			return out
		}

		// Queued and sent ones: an answer to a sent command may have been
		// lost, and the agent answers it again.
		got, err := db.OpenCommands(ctx, a.ID)
		if err != nil {
			t.Fatalf("OpenCommands: %v", err)
		}
		want := append(byID(older[0], older[2]), byID(newer[0], newer[1])...)
		if diff := cmp.Diff(want, ids(got)); diff != "" {
			t.Errorf("OpenCommands (-want +got):\n%s", diff)
		}

		// Only queued ones, of agents the replica holds, created before
		// the cutoff.
		connect(t, db, a, "r1")
		connect(t, db, other, "r2")
		got, err = db.QueuedForReplica(ctx, "r1", now.Add(2*time.Second), 100)
		if diff := cmp.Diff(append(byID(older[0], older[2]), newer[0].ID), ids(got)); err != nil || diff != "" {
			t.Errorf("QueuedForReplica(r1): err %v, (-want +got):\n%s", err, diff)
		}
		got, err = db.QueuedForReplica(ctx, "r1", now.Add(time.Second), 1)
		if diff := cmp.Diff(byID(older[0], older[2])[:1], ids(got)); err != nil || diff != "" {
			t.Errorf("QueuedForReplica(r1, before the newer batch, limit 1): err %v, (-want +got):\n%s", err, diff)
		}
		if got, err := db.OpenCommands(ctx, store.NewID()); err != nil || len(got) != 0 {
			t.Errorf("OpenCommands(unknown agent) = %v, %v; want none", got, err)
		}
	})
}

func TestListAgentCommands(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		other := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "other"})
		var created []string
		for i := range 5 {
			b, cmds := newCommands(clk.Now().Add(time.Duration(i)*time.Second), time.Minute, 2, a, other)
			mustCreateCommands(t, db, b, cmds)
			created = append(created, cmds[0].ID)
		}
		tests := []struct {
			page store.Page
			want []string
		}{
			{store.Page{}, []string{created[4], created[3], created[2], created[1], created[0]}},
			{store.Page{Limit: 2}, []string{created[4], created[3]}},
			{store.Page{Limit: 2, Offset: 4}, []string{created[0]}},
			{store.Page{Offset: 5}, []string{}},
		}
		for _, tt := range tests {
			got, total, err := db.ListAgentCommands(ctx, a.ID, tt.page)
			if err != nil {
				t.Fatalf("ListAgentCommands(%+v): %v", tt.page, err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" || total != 5 {
				t.Errorf("ListAgentCommands(%+v) total %d, want 5; IDs (-want +got):\n%s", tt.page, total, diff)
			}
		}
		got, total, err := db.ListAgentCommands(ctx, store.NewID(), store.Page{})
		if err != nil || got == nil || len(got) != 0 || total != 0 {
			t.Errorf("ListAgentCommands(unknown) = %v, %d, %v; want an empty list", got, total, err)
		}
	})
}

func TestCommandBatch(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "a"})
		now := clk.Now().Truncate(time.Millisecond)
		b, cmds := newCommands(now, time.Minute, 3, a)
		b.Target, b.Agents = "os=linux", 1
		mustCreateCommands(t, db, b, cmds)
		mustApply(t, db, store.CommandResult{CommandID: cmds[0].ID, AgentID: a.ID, Status: protocol.ResultError, At: now})

		want := store.BatchStatus{
			CommandBatch: b,
			States:       map[string]int{store.CommandQueued: 2, store.CommandSent: 0, store.CommandDone: 0, store.CommandFailed: 1, store.CommandExpired: 0},
			Finished:     1,
		}
		if diff := cmp.Diff(want, mustBatch(t, db, b.ID)); diff != "" {
			t.Errorf("CommandBatch (-want +got):\n%s", diff)
		}
		if _, err := db.CommandBatch(t.Context(), store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CommandBatch(unknown) error = %v, want ErrNotFound", err)
		}
	})
}
