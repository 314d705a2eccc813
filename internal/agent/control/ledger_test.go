package control

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// TestCommandOfferedAgain: a command offered again, on the same connection
// or the next one, is answered with the result of its one run.
func TestCommandOfferedAgain(t *testing.T) {
	fs := newFakeServer(t, nil)
	startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)

	ping := protocol.Command{CommandID: "p1", Name: protocol.CommandPing}
	sc.send(t, protocol.TypeCommand, ping)
	first := sc.result(t)
	if first.CommandID != "p1" || first.Status != protocol.ResultOK {
		t.Fatalf("first result = %+v, want ok for p1", first)
	}
	sc.send(t, protocol.TypeCommand, ping)
	if again := sc.result(t); again.CommandID != "p1" || !bytes.Equal(again.Output, first.Output) {
		t.Errorf("result offered again = %s, want the first run's %s", again.Output, first.Output)
	}

	// The server crashed before storing the answer; the agent reconnects
	// and the server offers the command again.
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	sc.send(t, protocol.TypeCommand, ping)
	if again := sc.result(t); again.CommandID != "p1" || !bytes.Equal(again.Output, first.Output) {
		t.Errorf("result offered again after a reconnect = %s, want the first run's %s", again.Output, first.Output)
	}
}

// TestResultOutlivesConnection: a command still running when its connection
// ends is answered on the next connection, and offering it again there
// does not run it a second time.
func TestResultOutlivesConnection(t *testing.T) {
	fs := newFakeServer(t, nil)
	uploads := inventoryServer(t, fs)
	col := &fakeCollector{gate: make(chan struct{})}
	_, sc := startInventoryAgent(t, fs, col, nil)
	col.gate <- struct{}{} // the start report
	if u := nextUpload(t, uploads); u.inv.Reason != protocol.InventoryStart {
		t.Fatalf("first upload reason %q, want %q", u.inv.Reason, protocol.InventoryStart)
	}

	inv := protocol.Command{CommandID: "inv1", Name: protocol.CommandInventory}
	sc.send(t, protocol.TypeCommand, inv)
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	sc.send(t, protocol.TypeCommand, inv) // offered again on reconnect
	// The agent handles messages in order: once the ping is answered, the
	// offer again was taken while the command still ran.
	sc.ping(t, "sync")
	col.gate <- struct{}{}
	if u := nextUpload(t, uploads); u.inv.Reason != protocol.InventoryRequest {
		t.Errorf("upload reason %q, want %q", u.inv.Reason, protocol.InventoryRequest)
	}
	if r := sc.result(t); r.CommandID != "inv1" || r.Status != protocol.ResultOK {
		t.Errorf("result on the next connection = %+v, want ok for inv1", r)
	}
	sc.expectNothing(t)
	if n := col.calls.Load(); n != 2 {
		t.Errorf("collections = %d, want 2 (start and one for the command offered twice)", n)
	}
}

// TestLedgerFile: the ledger outlives the process. A result not yet sent is
// sent by the next run and answers the command offered again; a command
// whose result is gone is refused rather than run a second time.
func TestLedgerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "commands.json")
	log := slog.New(slog.DiscardHandler)
	now := time.Now()
	l := newLedger(path, log)
	sent := protocol.Command{CommandID: "sent", Name: protocol.CommandPing, Deadline: now.Add(time.Minute)}
	unsent := protocol.Command{CommandID: "unsent", Name: protocol.CommandPing, Deadline: now.Add(time.Minute)}
	running := protocol.Command{CommandID: "running", Name: protocol.CommandInventory, Deadline: now.Add(time.Minute)}
	for _, c := range []protocol.Command{sent, unsent, running} {
		if _, seen := l.take(c, now); seen {
			t.Fatalf("take(%s) on a new ledger: seen", c.CommandID)
		}
	}
	l.finish(protocol.Result{CommandID: "sent", Status: protocol.ResultOK}, now)
	l.sent("sent")
	l.finish(protocol.Result{CommandID: "unsent", Status: protocol.ResultOK, Output: json.RawMessage(`{"n":1}`)}, now)

	// The next run of the agent.
	l = newLedger(path, log)
	if got := l.unsent(); len(got) != 1 || got[0].CommandID != "unsent" || string(got[0].Output) != `{"n":1}` {
		t.Errorf("unsent() after a restart = %+v, want the unsent result", got)
	}
	if res, seen := l.take(unsent, now); !seen || res == nil || res.Status != protocol.ResultOK {
		t.Errorf("take(unsent) after a restart = %+v, %t; want its result", res, seen)
	}
	for _, c := range []protocol.Command{sent, running} {
		if res, seen := l.take(c, now); !seen || res == nil || res.Status != protocol.ResultError || res.Error != errRanBefore {
			t.Errorf("take(%s) after a restart = %+v, %t; want an error result, not a second run", c.CommandID, res, seen)
		}
	}
	// Past the grace the records go.
	if _, seen := l.take(protocol.Command{CommandID: "new"}, now.Add(time.Minute+ledgerGrace+time.Second)); seen {
		t.Error("take(new) seen")
	}
	if _, seen := l.take(sent, now.Add(time.Minute+ledgerGrace+time.Second)); seen {
		t.Error("take(sent) past its keep: seen, want forgotten")
	}
}
