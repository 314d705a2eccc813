package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestLedger(t *testing.T) {
	var l ledger
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cmd := protocol.Command{CommandID: "c1", Name: protocol.CommandInventory, Deadline: now.Add(time.Minute)}
	if _, seen := l.take(cmd, now); seen {
		t.Fatal("first take: seen, want new")
	}
	// Offered again while it runs: nothing to send yet.
	if res, seen := l.take(cmd, now); !seen || res != nil {
		t.Errorf("take while running = %v, %t; want no result, seen", res, seen)
	}
	l.finish(protocol.Result{CommandID: "c1", Status: protocol.ResultOK})
	if res, seen := l.take(cmd, now.Add(time.Minute)); !seen || res == nil || res.Status != protocol.ResultOK {
		t.Errorf("take after finish = %v, %t; want its result", res, seen)
	}
	// Forgotten a grace period after its deadline.
	if _, seen := l.take(cmd, now.Add(time.Minute+ledgerGrace+time.Second)); seen {
		t.Error("take past deadline and grace: seen, want forgotten")
	}

	// Bounded: the oldest are forgotten first.
	var b ledger
	for i := range maxLedger + 1 {
		b.take(protocol.Command{CommandID: fmt.Sprint("id-", i)}, now)
	}
	if len(b.entries) != maxLedger || len(b.order) != maxLedger {
		t.Errorf("entries %d, order %d; want %d", len(b.entries), len(b.order), maxLedger)
	}
	if _, seen := b.take(protocol.Command{CommandID: "id-0"}, now); seen {
		t.Error("oldest entry still remembered past the bound")
	}
	if _, seen := b.take(protocol.Command{CommandID: fmt.Sprint("id-", maxLedger)}, now); !seen {
		t.Error("newest entry forgotten")
	}
}
