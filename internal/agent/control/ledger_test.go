package control

import (
	"bytes"
	"testing"

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
