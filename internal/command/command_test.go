package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestPing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		id, secret := s.enroll(t, "web-01")
		a := s.connect(t, id, secret, false)

		st, ids := s.create(t, id)
		if st.Agents != 1 || st.Name != protocol.CommandPing || st.CreatedBy != technician.User.Email || st.Target != "test" {
			t.Errorf("Create returned batch %+v, want ping to 1 agent by %s for target test", st.CommandBatch, technician.User.Email)
		}
		cmd := a.Command(t)
		stored := mustCommand(t, db, ids[0])
		want := protocol.Command{CommandID: ids[0], Name: protocol.CommandPing, Deadline: stored.ExpiresAt}
		if diff := cmp.Diff(want, cmd); diff != "" {
			t.Errorf("command on the wire (-want +got):\n%s", diff)
		}
		if got := stored.ExpiresAt.Sub(stored.CreatedAt); got != time.Minute {
			t.Errorf("default ping timeout = %v, want 1m", got)
		}

		a.Send(t, protocol.TypeResult, "", ping(cmd))
		done := waitState(t, db, ids[0], store.CommandDone)
		var out protocol.PingOutput
		if err := json.Unmarshal(done.Output, &out); err != nil || out.AgentTime.IsZero() {
			t.Errorf("ping output = %s (%v), want an agent_time", done.Output, err)
		}
		if done.ResultStatus != protocol.ResultOK || done.Error != "" || done.SentAt.IsZero() || done.FinishedAt.Before(done.SentAt) {
			t.Errorf("answered ping = %+v, want status ok, sent_at set, finished after sent", done)
		}
		b, err := db.CommandBatch(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b.Finished != 1 || b.States[store.CommandDone] != 1 {
			t.Errorf("batch finished %d, states %v; want 1 done", b.Finished, b.States)
		}

		// An agent that does not know a command says so; it fails.
		_, ids2 := s.create(t, id)
		cmd = a.Command(t)
		a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultUnsupported, Error: "unknown command"})
		if c := waitState(t, db, ids2[0], store.CommandFailed); c.ResultStatus != protocol.ResultUnsupported || c.Error != "unknown command" {
			t.Errorf("unsupported answer stored as status %q error %q", c.ResultStatus, c.Error)
		}

		// Each request is audited once, with its batch.
		entries, total, err := db.ListAudit(ctx, store.AuditFilter{Action: "command.create"}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if total != 2 {
			t.Fatalf("command.create audit entries = %d, want 2", total)
		}
		wantEntry := store.AuditEntry{
			ActorType: "user", ActorID: technician.User.ID, ActorName: technician.User.Email, Action: "command.create",
			TargetType: "command_batch", TargetID: st.ID, Detail: map[string]string{"name": "ping", "agents": "1", "target": "test", "summary": "ping"},
			IP: technician.IP,
		}
		if diff := cmp.Diff(wantEntry, entries[1], cmpopts.IgnoreFields(store.AuditEntry{}, "ID", "At")); diff != "" {
			t.Errorf("audit entry of the first request (-want +got):\n%s", diff)
		}
	})
}

// TestAnswersFromOtherAgents checks that an agent can only answer its own
// commands.
func TestAnswersFromOtherAgents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		idA, secretA := s.enroll(t, "victim")
		idB, secretB := s.enroll(t, "intruder")
		a := s.connect(t, idA, secretA, false)
		b := s.connect(t, idB, secretB, false)

		_, idsA := s.create(t, idA)
		cmdA := a.Command(t)
		waitState(t, db, idsA[0], store.CommandSent)
		b.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmdA.CommandID, Status: protocol.ResultOK, Output: json.RawMessage(`{"forged":true}`)})
		b.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: store.NewID(), Status: protocol.ResultError, Error: "no such command"})
		// Neither answer is refused on the wire: the agent learns nothing
		// about other agents' commands.
		b.Sync(t)

		// B's own command, answered after: once it is done, the writer
		// has handled B's earlier answers too.
		_, idsB := s.create(t, idB)
		cmdB := b.Command(t)
		b.Send(t, protocol.TypeResult, "", ping(cmdB))
		waitState(t, db, idsB[0], store.CommandDone)

		if got := mustCommand(t, db, idsA[0]); got.State != store.CommandSent || got.Output != nil || got.ResultStatus != "" {
			t.Fatalf("A's command after B answered it: state %s status %q output %s, want sent and unanswered", got.State, got.ResultStatus, got.Output)
		}
		a.Send(t, protocol.TypeResult, "", ping(cmdA))
		if got := waitState(t, db, idsA[0], store.CommandDone); strings.Contains(string(got.Output), "forged") {
			t.Errorf("A's command output = %s, want A's own answer", got.Output)
		}
	})
}

func TestMalformedResults(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		id, secret := s.enroll(t, "sloppy")
		a := s.connect(t, id, secret, false)
		_, ids := s.create(t, id)
		cmd := a.Command(t)

		results := []struct {
			name, data string
		}{
			{"unknown status", `{"command_id":"` + cmd.CommandID + `","status":"maybe"}`},
			{"no command ID", `{"status":"ok"}`},
			{"command ID with a space", `{"command_id":"a b","status":"ok"}`},
			{"not an object", `"ok"`},
			{"null", `null`},
			{"error too long", `{"command_id":"` + cmd.CommandID + `","status":"error","error":"` + strings.Repeat("e", 4097) + `"}`},
		}
		for i, r := range results {
			t.Run(r.name, func(t *testing.T) {
				ref := fmt.Sprintf("bad-%d", i)
				a.SendRaw(t, []byte(`{"type":"result","id":"`+ref+`","data":`+r.data+`}`))
				env := a.Next(t)
				if env.Type != protocol.TypeError {
					t.Fatalf("answer = %s %s, want an error", env.Type, env.Data)
				}
				e, err := protocol.DecodeError(env.Data)
				if err != nil {
					t.Fatal(err)
				}
				if e.Code != protocol.CodeBadMessage || e.RefID != ref || e.Message == "" {
					t.Errorf("error = %+v, want code %s, ref_id %s and a message", e, protocol.CodeBadMessage, ref)
				}
			})
		}
		// Bad results are answered one by one and never end the
		// connection, however many there are.
		for i := range 12 {
			a.Send(t, protocol.TypeResult, fmt.Sprint("again-", i), json.RawMessage(`{"command_id":"x","status":"maybe"}`))
			if env := a.Next(t); env.Type != protocol.TypeError {
				t.Fatalf("answer to bad result %d = %s, want an error", i, env.Type)
			}
		}
		if got := mustCommand(t, db, ids[0]); got.State == store.CommandDone || got.State == store.CommandFailed {
			t.Fatalf("command state after malformed answers = %s, want still open", got.State)
		}
		a.Send(t, protocol.TypeResult, "", ping(cmd))
		waitState(t, db, ids[0], store.CommandDone)
	})
}

// TestQueuedUntilConnected checks that commands for agents this replica
// does not hold wait in the database and go out when the agent connects.
func TestQueuedUntilConnected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		offID, offSecret := s.enroll(t, "offline")
		// Online on this replica according to the database, but its
		// connection is gone (a crash left the row behind).
		staleID, staleSecret := s.enroll(t, "stale")
		if err := db.MarkConnected(t.Context(), store.Connection{AgentID: staleID, ConnID: store.NewID(), ReplicaID: "r1", Facts: facts("stale")}); err != nil {
			t.Fatal(err)
		}

		st, first := s.create(t, offID)
		if st.States[store.CommandQueued] != 1 {
			t.Errorf("new batch states = %v, want 1 queued", st.States)
		}
		_, second := s.create(t, offID)
		_, stale := s.create(t, staleID)

		a := s.connect(t, offID, offSecret, false)
		// Oldest first, before anything else is read.
		for _, want := range []string{first[0], second[0]} {
			cmd := a.Command(t)
			if cmd.CommandID != want {
				t.Fatalf("delivered command %s, want %s", cmd.CommandID, want)
			}
			a.Send(t, protocol.TypeResult, "", ping(cmd))
			waitState(t, db, want, store.CommandDone)
		}
		a.Sync(t) // nothing else was queued

		if got := mustCommand(t, db, stale[0]); got.State != store.CommandQueued {
			t.Fatalf("command for the stale agent = %s, want queued", got.State)
		}
		b := s.connect(t, staleID, staleSecret, false)
		cmd := b.Command(t)
		if cmd.CommandID != stale[0] {
			t.Fatalf("delivered command %s, want %s", cmd.CommandID, stale[0])
		}
		b.Send(t, protocol.TypeResult, "", ping(cmd))
		waitState(t, db, stale[0], store.CommandDone)
	})
}

// TestExpiry expires commands through a second database handle whose clock
// is an hour ahead, instead of waiting for the deadline.
func TestExpiry(t *testing.T) {
	t.Parallel()
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Logf("PostgreSQL skipped: set %s to run it", storetest.EnvPostgresURL)
	}
	for _, backend := range storetest.Backends(t) {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := t.Context()
			opts := backend.Options(t)
			db := storetest.Open(t, opts)
			opts.Now = func() time.Time { return time.Now().Add(time.Hour) }
			later := storetest.Open(t, opts)

			s := newServer(t, newFleet(t, db), newBus(), "r1")
			onID, onSecret := s.enroll(t, "silent")
			offID, offSecret := s.enroll(t, "away")
			a := s.connect(t, onID, onSecret, false)
			st, ids, err := s.cmds.Create(ctx, technician, command.Request{
				Name: protocol.CommandPing, Timeout: time.Second, AgentIDs: []string{onID, offID},
			})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			sent := commandFor(t, db, ids, onID)
			cmd := a.Command(t)
			waitState(t, db, sent, store.CommandSent)

			// Expire is the singleton job one replica runs for all.
			if err := s.cmds.Expire(ctx); err != nil {
				t.Fatalf("Expire before the deadline: %v", err)
			}
			if c := mustCommand(t, db, sent); c.State != store.CommandSent {
				t.Fatalf("command after Expire before the deadline = %s, want sent", c.State)
			}
			// The same job an hour later.
			if err := command.New(later, s.hub, newBus(), "r1", quiet).Expire(ctx); err != nil {
				t.Fatalf("Expire after the deadline: %v", err)
			}
			for _, id := range ids {
				if c := mustCommand(t, db, id); c.State != store.CommandExpired || c.FinishedAt.IsZero() {
					t.Errorf("command %s: state %s finished_at %v, want expired with a finish time", id, c.State, c.FinishedAt)
				}
			}

			// A late answer is dropped. Another command answered after it
			// shows when the writer has handled it.
			a.Send(t, protocol.TypeResult, "", ping(cmd))
			_, next := s.create(t, onID)
			a.Send(t, protocol.TypeResult, "", ping(a.Command(t)))
			waitState(t, db, next[0], store.CommandDone)
			if c := mustCommand(t, db, sent); c.State != store.CommandExpired || c.Output != nil {
				t.Errorf("expired command after a late answer: state %s output %s, want expired without output", c.State, c.Output)
			}

			// The agent that was away gets nothing when it comes back.
			s.connect(t, offID, offSecret, false).Sync(t)

			b, err := db.CommandBatch(ctx, st.ID)
			if err != nil {
				t.Fatal(err)
			}
			if b.States[store.CommandExpired] != 2 || b.Finished != 2 {
				t.Errorf("batch states %v finished %d, want 2 expired and finished", b.States, b.Finished)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 300
		f := newFleet(t, db)
		s := newServer(t, f, newBus(), "r1")
		agents := make([]*servertest.Agent, n)
		for i := range agents {
			id, secret := f.enroll(t, fmt.Sprintf("host-%03d", i))
			agents[i] = s.connect(t, id, secret, true)
		}
		// An agent of another site is not part of the batch.
		outsider, _ := newFleet(t, db).enroll(t, "outsider")

		start := time.Now()
		st, ids, err := s.cmds.Create(t.Context(), technician, command.Request{
			Name: protocol.CommandPing, Filter: store.AgentFilter{SiteID: f.site.ID}, Target: "site_id=" + f.site.ID,
		})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if st.Agents != n || len(ids) != n {
			t.Fatalf("batch for %d agents has %d agents and %d commands", n, st.Agents, len(ids))
		}
		var b store.BatchStatus
		defer func() {
			if t.Failed() {
				t.Logf("last batch states: %v; agents connected: %d", b.States, s.hub.Connected())
			}
		}()
		// 300 answers take about 5s under -race alone, and several times
		// that beside other tests on a loaded machine.
		servertest.EventuallyWithin(t, time.Minute, "every agent to answer", func() bool {
			b, err = db.CommandBatch(context.WithoutCancel(t.Context()), st.ID)
			if err != nil {
				t.Fatalf("CommandBatch: %v", err)
			}
			return b.Finished == n
		})
		t.Logf("%d agents answered in %v", n, time.Since(start))
		if b.States[store.CommandDone] != n {
			t.Errorf("batch states = %v, want %d done", b.States, n)
		}
		for i, a := range agents {
			if got := a.Answered.Load(); got != 1 {
				t.Errorf("agent %d answered %d pings, want 1", i, got)
			}
		}
		if _, total, err := db.ListAgentCommands(t.Context(), outsider, store.Page{}); err != nil || total != 0 {
			t.Errorf("outsider has %d commands (%v), want 0", total, err)
		}
	})
}

// TestRemoteDispatch runs two replicas on one database and bus: a command
// for an agent held elsewhere goes over the bus to its replica.
func TestRemoteDispatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		f := newFleet(t, db)
		b := newBus()
		r1 := newServer(t, f, b, "r1")
		r2 := newServer(t, f, b, "r2")
		toR1, toR2, toR9 := b.record(t, deliverSubject("r1")), b.record(t, deliverSubject("r2")), b.record(t, deliverSubject("r9"))
		// Garbage on the subject is dropped without harm.
		if err := b.Publish(ctx, deliverSubject("r2"), []byte("not json")); err != nil {
			t.Fatal(err)
		}

		localID, localSecret := f.enroll(t, "local")
		remoteID, remoteSecret := f.enroll(t, "remote")
		awayID, _ := f.enroll(t, "away") // held by a replica that is not running
		local := r1.connect(t, localID, localSecret, false)
		remote := r2.connect(t, remoteID, remoteSecret, false)
		if err := db.MarkConnected(ctx, store.Connection{AgentID: awayID, ConnID: store.NewID(), ReplicaID: "r9", Facts: facts("away")}); err != nil {
			t.Fatal(err)
		}

		_, ids := r1.create(t, localID, remoteID, awayID)
		type delivery struct {
			AgentID string           `json:"agent_id"`
			Command protocol.Command `json:"command"`
		}
		routed := func(msgs [][]byte) []delivery {
			t.Helper()
			var out []delivery
			for _, m := range msgs {
				if string(m) == "not json" {
					continue
				}
				var d delivery
				if err := json.Unmarshal(m, &d); err != nil {
					t.Fatalf("delivery %s: %v", m, err)
				}
				out = append(out, d)
			}
			return out
		}
		wire := func(agentID string) delivery {
			c := mustCommand(t, db, commandFor(t, db, ids, agentID))
			return delivery{AgentID: agentID, Command: protocol.Command{CommandID: c.ID, Name: c.Name, Deadline: c.ExpiresAt}}
		}
		if got := routed(toR1()); len(got) != 0 {
			t.Errorf("deliveries routed to r1 (the sender) = %+v, want none", got)
		}
		if diff := cmp.Diff([]delivery{wire(remoteID)}, routed(toR2())); diff != "" {
			t.Errorf("deliveries routed to r2 (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]delivery{wire(awayID)}, routed(toR9())); diff != "" {
			t.Errorf("deliveries routed to r9 (-want +got):\n%s", diff)
		}

		for _, x := range []struct {
			a  *servertest.Agent
			id string
		}{{local, localID}, {remote, remoteID}} {
			cmd := x.a.Command(t)
			if want := wire(x.id).Command; !cmp.Equal(cmd, want) {
				t.Errorf("agent %s received %+v, want %+v", x.id, cmd, want)
			}
			x.a.Send(t, protocol.TypeResult, "", ping(cmd))
			waitState(t, db, cmd.CommandID, store.CommandDone)
		}
		if c := mustCommand(t, db, commandFor(t, db, ids, awayID)); c.State != store.CommandQueued {
			t.Errorf("command for the agent on r9 = %s, want queued", c.State)
		}
	})
}

func TestCreateRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		id, _ := s.enroll(t, "target")
		readonly := access.Principal{User: store.User{ID: "user-ro", Email: "ro@example.com", Role: store.RoleReadonly}, Via: "api_token"}
		ping := func(mod func(r *command.Request)) command.Request {
			r := command.Request{Name: protocol.CommandPing, AgentIDs: []string{id}}
			if mod != nil {
				mod(&r)
			}
			return r
		}
		tests := []struct {
			name      string
			p         access.Principal
			req       command.Request
			forbidden bool
			field     string
		}{
			{"readonly", readonly, ping(nil), true, ""},
			{"no role", access.Principal{}, ping(nil), true, ""},
			{"unknown command", technician, ping(func(r *command.Request) { r.Name = "reboot" }), false, "name"},
			{"readonly lists processes", readonly, ping(func(r *command.Request) { r.Name = protocol.CommandProcesses }), true, ""},
			{"readonly reboots", readonly, ping(func(r *command.Request) {
				r.Name, r.Args = protocol.CommandPower, json.RawMessage(`{"action":"reboot"}`)
			}), true, ""},
			{"process end without args", technician, ping(func(r *command.Request) { r.Name = protocol.CommandProcessEnd }), false, "args"},
			{"process end without name", technician, ping(func(r *command.Request) {
				r.Name, r.Args = protocol.CommandProcessEnd, json.RawMessage(`{"pid":12}`)
			}), false, "args"},
			{"service reload", technician, ping(func(r *command.Request) {
				r.Name, r.Args = protocol.CommandServiceControl, json.RawMessage(`{"name":"sshd","action":"reload"}`)
			}), false, "args"},
			{"event log limit", technician, ping(func(r *command.Request) {
				r.Name, r.Args = protocol.CommandEventLog, json.RawMessage(`{"limit":5000}`)
			}), false, "args"},
			{"power hibernate", technician, ping(func(r *command.Request) {
				r.Name, r.Args = protocol.CommandPower, json.RawMessage(`{"action":"hibernate"}`)
			}), false, "args"},
			{"no command", technician, ping(func(r *command.Request) { r.Name = "" }), false, "name"},
			{"timeout too short", technician, ping(func(r *command.Request) { r.Timeout = time.Second - time.Millisecond }), false, "timeout"},
			{"timeout too long", technician, ping(func(r *command.Request) { r.Timeout = 24*time.Hour + time.Second }), false, "timeout"},
			{"negative timeout", technician, ping(func(r *command.Request) { r.Timeout = -time.Minute }), false, "timeout"},
			{"args too big", technician, ping(func(r *command.Request) { r.Args = jsonString(32<<10 + 1) }), false, "args"},
			{"args not JSON", technician, ping(func(r *command.Request) { r.Args = json.RawMessage(`{"a":`) }), false, "args"},
			{"unknown agent", technician, ping(func(r *command.Request) { r.AgentIDs = []string{store.NewID()} }), false, "target"},
			{"filter matching nobody", technician, ping(func(r *command.Request) {
				r.AgentIDs, r.Filter = nil, store.AgentFilter{OS: "plan9"}
			}), false, "target"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st, ids, err := s.cmds.Create(ctx, tt.p, tt.req)
				if ids != nil || st.ID != "" {
					t.Errorf("Create returned batch %q and IDs %v with the error", st.ID, ids)
				}
				if tt.forbidden {
					if !errors.Is(err, access.ErrForbidden) {
						t.Errorf("Create error = %v, want ErrForbidden", err)
					}
					return
				}
				var inv *input.Error
				if !errors.As(err, &inv) || inv.Field != tt.field {
					t.Errorf("Create error = %v, want an InvalidError for field %q", err, tt.field)
				}
				if tt.field == "name" && !strings.Contains(err.Error(), "(known: event_log, inventory, ping, power, process_end, processes, service_control, services)") {
					t.Errorf("Create error = %v, want it to list the known commands", err)
				}
			})
		}
		if _, total, err := db.ListAgentCommands(ctx, id, store.Page{}); err != nil || total != 0 {
			t.Errorf("refused requests stored %d commands (%v), want 0", total, err)
		}
		if _, total, err := db.ListAudit(ctx, store.AuditFilter{Action: "command."}, store.Page{}); err != nil || total != 0 {
			t.Errorf("refused requests left %d audit entries (%v), want 0", total, err)
		}

		// The bounds themselves are allowed, and so is every role that may
		// run commands.
		allowed := []struct {
			name    string
			role    store.Role
			timeout time.Duration
			args    json.RawMessage
		}{
			{"shortest timeout", store.RoleTechnician, time.Second, nil},
			{"longest timeout", store.RoleAdmin, 24 * time.Hour, nil},
			{"largest args", store.RoleOwner, time.Minute, jsonString(32 << 10)},
			{"inventory, default timeout", store.RoleTechnician, 0, nil},
		}
		for _, tt := range allowed {
			t.Run(tt.name, func(t *testing.T) {
				p := access.Principal{User: store.User{ID: "user-" + string(tt.role), Role: tt.role}, Via: "session"}
				// No timeout asks for the command's default.
				name, want := protocol.CommandPing, tt.timeout
				if tt.timeout == 0 {
					name, want = protocol.CommandInventory, 10*time.Minute
				}
				_, ids, err := s.cmds.Create(ctx, p, command.Request{Name: name, Timeout: tt.timeout, Args: tt.args, AgentIDs: []string{id}})
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				c := mustCommand(t, db, ids[0])
				if got := c.ExpiresAt.Sub(c.CreatedAt); got != want {
					t.Errorf("timeout = %v, want %v", got, want)
				}
				if !cmp.Equal(c.Args, tt.args) {
					t.Errorf("stored args of %d bytes, want %d", len(c.Args), len(tt.args))
				}
			})
		}
	})
}

// A power request reaches the agent signed with who asked, whatever the
// caller claimed.
func TestCreatePowerSignsRequester(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		id, _ := s.enroll(t, "target")
		_, ids, err := s.cmds.Create(t.Context(), technician, command.Request{Name: protocol.CommandPower,
			Args: json.RawMessage(`{"action":"reboot","delay":"5m","message":"Patch night","by":"someone else"}`), AgentIDs: []string{id}})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		req, err := protocol.DecodePowerRequest(mustCommand(t, db, ids[0]).Args, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if req.By != technician.ActorName() || req.Message != "Patch night" || time.Duration(req.Delay) != 5*time.Minute {
			t.Fatalf("stored %+v, want the request signed by %q", req, technician.ActorName())
		}
	})
}

// jsonString is a JSON string of n bytes, quotes included.
func jsonString(n int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)
}

// TestRunFlushesOnCancel checks that answers queued when Run stops are
// written before it returns.
func TestRunFlushesOnCancel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFleet(t, db)
		b := newBus()
		svc := command.New(db, hub.New(db, b, quiet, hub.Options{ReplicaID: "r1", Heartbeat: time.Second}), b, "r1", quiet)
		idA, _ := f.enroll(t, "a")
		idB, _ := f.enroll(t, "b")
		_, ids, err := svc.Create(t.Context(), technician, command.Request{Name: protocol.CommandPing, AgentIDs: []string{idA, idB}})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		cmdA, cmdB := commandFor(t, db, ids, idA), commandFor(t, db, ids, idB)

		// The answers wait in the service until Run writes them.
		out := json.RawMessage(`{"agent_time":"2026-05-01T12:00:00Z"}`)
		svc.Result(t.Context(), idB, protocol.Result{CommandID: cmdA, Status: protocol.ResultOK, Output: json.RawMessage(`{"forged":true}`)})
		svc.Result(t.Context(), idA, protocol.Result{CommandID: cmdA, Status: protocol.ResultOK, Output: out})
		svc.Result(t.Context(), idB, protocol.Result{CommandID: cmdB, Status: protocol.ResultError, Error: "boom"})
		if c := mustCommand(t, db, cmdA); c.State != store.CommandQueued {
			t.Fatalf("command state before Run = %s, want queued", c.State)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := svc.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if c := mustCommand(t, db, cmdA); c.State != store.CommandDone || string(c.Output) != string(out) {
			t.Errorf("A's command after Run = %s with output %s, want done with %s", c.State, c.Output, out)
		}
		if c := mustCommand(t, db, cmdB); c.State != store.CommandFailed || c.Error != "boom" {
			t.Errorf("B's command after Run = %s with error %q, want failed with boom", c.State, c.Error)
		}
	})
}

// TestRunBatchesWrites checks the batching delay on the bubble's clock:
// an answer waits in Run for up to 20 ms (Run's maxDelay) so that answers
// arriving together are written together, and is written when it ends.
func TestRunBatchesWrites(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		f := newFleet(t, db)
		b := newBus()
		svc := command.New(db, hub.New(db, b, quiet, hub.Options{ReplicaID: "r1", Heartbeat: time.Second}), b, "r1", quiet)
		id, _ := f.enroll(t, "a")
		_, ids, err := svc.Create(t.Context(), technician, command.Request{Name: protocol.CommandPing, AgentIDs: []string{id}})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		runDone := make(chan error, 1)
		go func() { runDone <- svc.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-runDone; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()

		const maxDelay = 20 * time.Millisecond
		svc.Result(t.Context(), id, protocol.Result{CommandID: ids[0], Status: protocol.ResultOK})
		time.Sleep(maxDelay - time.Millisecond)
		synctest.Wait()
		if c := mustCommand(t, db, ids[0]); c.State != store.CommandQueued {
			t.Fatalf("command %v after the answer = %s, want queued (held for the batch)", maxDelay-time.Millisecond, c.State)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if c := mustCommand(t, db, ids[0]); c.State != store.CommandDone {
			t.Errorf("command %v after the answer = %s, want done", maxDelay, c.State)
		}
	})
}

// TestRunFinishesFlushOnCancel cancels Run while a batch of answers is
// being written (held up by another writer's lock on the SQLite file):
// the answers must still be stored.
func TestRunFinishesFlushOnCancel(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Options{DataDir: t.TempDir()})
	f := newFleet(t, db)
	b := newBus()
	svc := command.New(db, hub.New(db, b, quiet, hub.Options{ReplicaID: "r1", Heartbeat: time.Second}), b, "r1", quiet)
	id, _ := f.enroll(t, "a")
	_, ids, err := svc.Create(t.Context(), technician, command.Request{Name: protocol.CommandPing, AgentIDs: []string{id}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	locked, release := make(chan struct{}), make(chan struct{})
	lockDone := make(chan error, 1)
	go func() {
		lockDone <- db.WithTx(context.Background(), func(*store.Tx) error {
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(ctx) }()
	svc.Result(t.Context(), id, protocol.Result{CommandID: ids[0], Status: protocol.ResultOK})
	// The write is under way once it holds a second connection (the lock
	// holds the first); it then waits for the lock. Stop Run there.
	eventually(t, "the answer's write to wait for the lock", func() bool { return db.Stats().InUse >= 2 })
	cancel()
	// Run must keep waiting for its write: a flush that gave up on the
	// cancel would return here, with the answer lost.
	select {
	case err := <-runDone:
		t.Fatalf("Run returned (%v) while its write waited for the lock", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-lockDone; err != nil {
		t.Fatalf("lock transaction: %v", err)
	}
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := mustCommand(t, db, ids[0]); c.State != store.CommandDone {
		t.Errorf("command after Run = %s, want done", c.State)
	}
}

// TestCreateWhileConnecting creates a command just as its agent connects,
// while the hub may still be delivering the queued ones: the agent must
// get it once, not from both paths.
func TestCreateWhileConnecting(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		for i := range 20 {
			id, secret := s.enroll(t, fmt.Sprint("racer-", i))
			a := s.connect(t, id, secret, false)
			_, ids := s.create(t, id)
			cmd := a.Command(t)
			if cmd.CommandID != ids[0] {
				t.Fatalf("agent %d got command %s, want %s", i, cmd.CommandID, ids[0])
			}
			// Both paths have written whatever they were going to before
			// the agent's next message is read.
			a.Sync(t)
			a.Send(t, protocol.TypeResult, "", ping(cmd))
			waitState(t, db, ids[0], store.CommandDone)
		}
	})
}

// TestBusDelivery publishes deliveries on this replica's subject the way
// another replica would.
func TestBusDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		b := newBus()
		s := newServer(t, newFleet(t, db), b, "r1")
		id, secret := s.enroll(t, "target")
		// Queued while the agent was away, then routed here by "r2".
		_, ids := s.create(t, id)
		a := s.connect(t, id, secret, false)
		if got := a.Command(t); got.CommandID != ids[0] {
			t.Fatalf("queued command delivered on connect = %s, want %s", got.CommandID, ids[0])
		}
		c := mustCommand(t, db, ids[0])
		publish := func(d any) {
			t.Helper()
			data, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Publish(ctx, deliverSubject("r1"), data); err != nil {
				t.Fatal(err)
			}
		}
		type delivery struct {
			AgentID string           `json:"agent_id"`
			Command protocol.Command `json:"command"`
		}
		wire := protocol.Command{CommandID: c.ID, Name: c.Name, Deadline: c.ExpiresAt}
		// Already written to this connection: not again.
		publish(delivery{AgentID: id, Command: wire})
		// Past its deadline: nobody waits for the answer.
		publish(delivery{AgentID: id, Command: protocol.Command{CommandID: store.NewID(), Name: "ping", Deadline: time.Now().Add(-time.Second)}})
		// For an agent this replica does not hold.
		publish(delivery{AgentID: store.NewID(), Command: protocol.Command{CommandID: store.NewID(), Name: "ping", Deadline: time.Now().Add(time.Minute)}})
		a.Sync(t)

		fresh := protocol.Command{CommandID: store.NewID(), Name: "ping", Deadline: time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)}
		publish(delivery{AgentID: id, Command: fresh})
		if got := a.Command(t); !cmp.Equal(got, fresh) {
			t.Errorf("routed command = %+v, want %+v", got, fresh)
		}
	})
}

// TestLostRoute: a command routed over the bus to the replica holding its
// agent, and lost on the way, is offered again by that replica from the
// database, once.
func TestLostRoute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFleet(t, db)
		b := newBus()
		r1 := newServer(t, f, b, "r1")
		r2 := newServer(t, f, b, "r2")
		id, secret := f.enroll(t, "remote")
		a := r2.connect(t, id, secret, false)
		b.drop(deliverSubject("r2"))

		_, ids := r1.create(t, id)
		cmd := a.Command(t)
		if cmd.CommandID != ids[0] {
			t.Fatalf("agent received command %s, want %s", cmd.CommandID, ids[0])
		}
		waitState(t, db, ids[0], store.CommandSent)
		a.Send(t, protocol.TypeResult, "", ping(cmd))
		waitState(t, db, ids[0], store.CommandDone)
		// Sent once: a second copy would be the next thing the agent reads.
		_, more := r1.create(t, id)
		if next := a.Command(t); next.CommandID != more[0] {
			t.Errorf("agent received %s after answering, want the next command %s", next.CommandID, more[0])
		}
	})
}

// TestSentOfferedAgain: a command sent to a connection that ended before
// the answer was stored is offered again when the agent reconnects.
func TestSentOfferedAgain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFleet(t, db)
		s := newServer(t, f, newBus(), "r1")
		id, secret := f.enroll(t, "flaky")
		a := s.connect(t, id, secret, false)
		_, ids := s.create(t, id)
		cmd := a.Command(t)
		waitState(t, db, ids[0], store.CommandSent)
		a.Kill()
		eventually(t, "the agent marked offline", func() bool {
			ag, err := db.Agent(context.WithoutCancel(t.Context()), id)
			return err == nil && !ag.Online
		})

		a = s.connect(t, id, secret, false)
		if again := a.Command(t); again.CommandID != cmd.CommandID {
			t.Fatalf("after reconnecting the agent received %s, want %s again", again.CommandID, cmd.CommandID)
		}
		a.Send(t, protocol.TypeResult, "", ping(cmd))
		waitState(t, db, ids[0], store.CommandDone)
	})
}

// A result the database refuses (PostgreSQL takes no NUL byte in text)
// does not hold up another agent's results: its batch is stored one
// result at a time and the refused one is dropped.
func TestRefusedResultDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, newFleet(t, db), newBus(), "r1")
		idA, secretA := s.enroll(t, "poison")
		idB, secretB := s.enroll(t, "fine")
		a := s.connect(t, idA, secretA, false)
		b := s.connect(t, idB, secretB, false)
		_, ids := s.create(t, idA, idB)
		cmdA, cmdB := a.Command(t), b.Command(t)
		a.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: cmdA.CommandID, Status: protocol.ResultError, Error: "bad\x00byte"})
		b.Send(t, protocol.TypeResult, "", ping(cmdB))
		waitState(t, db, commandFor(t, db, ids, idB), store.CommandDone)
		// Later results are stored too: the refused one is not retried
		// in front of them.
		_, more := s.create(t, idB)
		b.Send(t, protocol.TypeResult, "", ping(b.Command(t)))
		waitState(t, db, more[0], store.CommandDone)
	})
}
