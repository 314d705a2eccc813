package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/protocol"
)

// TestTrayRegistry: the set of trays as the facts carry it, from the hellos
// of each account's trays: what changes it, what it forgets, and its
// bounds.
func TestTrayRegistry(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	gone := map[int]bool{}
	r := newTrayRegistry()
	r.alive = func(pid int) bool { return !gone[pid] }
	alice := ipc.Caller{User: "alice", UID: 1000, PID: 501}
	bob := ipc.Caller{User: "bob", UID: 1001, PID: 601}
	hello := func(c ipc.Caller, session, version string) (bool, error) {
		t.Helper()
		return r.hello(c, ipc.TrayHelloArgs{Version: version, Session: session, PID: 9999}, now)
	}
	mustChange := func(what string, want bool, changed bool, err error) {
		t.Helper()
		if err != nil || changed != want {
			t.Fatalf("%s: changed %v, %v; want %v, nil", what, changed, err, want)
		}
	}
	wantList := func(what string, want []protocol.TrayInfo) {
		t.Helper()
		if diff := cmp.Diff(want, r.list(now)); diff != "" {
			t.Errorf("%s: trays (-want +got):\n%s", what, diff)
		}
	}

	wantList("at start", nil)
	changed, err := hello(alice, "2", "v1.1.0")
	mustChange("alice's first hello", true, changed, err)
	changed, err = hello(alice, "2", "1.1.0")
	mustChange("alice again", false, changed, err)
	changed, err = hello(bob, "3", "1.0.0")
	mustChange("bob's first hello", true, changed, err)
	wantList("two trays", []protocol.TrayInfo{{User: "alice", Session: "2", Version: "1.1.0"}, {User: "bob", Session: "3", Version: "1.0.0"}})

	// Bob's tray restarts on the new version: the same session, changed.
	bob.PID = 602
	changed, err = hello(bob, "3", "1.1.0")
	mustChange("bob on 1.1.0", true, changed, err)

	// A tray that stops saying hello is forgotten after TrayStale; one
	// whose process is gone, at once.
	now = now.Add(ipc.TrayStale - time.Second)
	changed, err = hello(alice, "2", "1.1.0")
	mustChange("alice keeps saying hello", false, changed, err)
	now = now.Add(2 * time.Second)
	wantList("bob silent", []protocol.TrayInfo{{User: "alice", Session: "2", Version: "1.1.0"}})
	gone[501] = true
	wantList("alice's tray gone", nil)

	// The PID the tray gives counts only where the OS gives none.
	noPID := ipc.Caller{User: "carol", UID: 1002}
	if _, err := r.hello(noPID, ipc.TrayHelloArgs{Version: "1.1.0", PID: 777}, now); err != nil {
		t.Fatal(err)
	}
	gone[777] = true
	wantList("carol's claimed process gone", nil)

	// Bounds: trays per account, and changes per account.
	dave := ipc.Caller{User: "dave", UID: 1003, PID: 801}
	for i := range maxTraysPerAccount {
		if i >= trayChangeBurst {
			now = now.Add(trayChangeEvery) // the next change allowed, the first trays not stale yet
		}
		if _, err := hello(dave, strings.Repeat("s", i+1), "1.1.0"); err != nil {
			t.Fatalf("dave's tray %d: %v", i+1, err)
		}
	}
	now = now.Add(trayChangeEvery)
	if _, err := hello(dave, "one more", "1.1.0"); !errors.Is(err, ipc.ErrBusy) {
		t.Errorf("dave's tray %d: %v, want ErrBusy", maxTraysPerAccount+1, err)
	}
	erin := ipc.Caller{User: "erin", UID: 1004, PID: 901}
	for i := range trayChangeBurst {
		if _, err := hello(erin, "1", "1.0."+string(rune('0'+i))); err != nil {
			t.Fatalf("erin's change %d: %v", i+1, err)
		}
	}
	if _, err := hello(erin, "1", "1.1.0"); !errors.Is(err, ipc.ErrRateLimited) {
		t.Errorf("erin's change %d: %v, want ErrRateLimited", trayChangeBurst+1, err)
	}
	if _, err := hello(erin, "1", "1.0.3"); err != nil {
		t.Errorf("erin's unchanged hello while limited: %v", err)
	}
	if _, err := hello(ipc.Caller{UID: 1005}, "1", "1.1.0"); !errors.Is(err, ipc.ErrBadRequest) {
		t.Errorf("hello from an account without a name: %v, want ErrBadRequest", err)
	}
}

// TestTrayHelloOverIPC: a tray's hello over the real endpoint lands in the
// facts with the caller's account, and the tray's adapter takes an
// agent without tray_hello (an older one) as nothing to tell.
func TestTrayHelloOverIPC(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	local := newLocalAPI("agent-7", settings.New(filepath.Join(t.TempDir(), config.PolicyFile)), log)
	client := testControlClient(t, log, "")
	endpoint := testIPCEndpoint(t)
	stop := serveIPC(t.Context(), endpoint, local, client)
	defer stop()
	dialAgent(t, endpoint).Close() // listening

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	a := ipcTrayAgent{endpoint: endpoint}
	if err := a.Hello(ctx); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	f, err := local.collected(func(context.Context) (protocol.Facts, error) { return protocol.Facts{Hostname: "web-01"}, nil })(ctx)
	if err != nil {
		t.Fatal(err)
	}
	me, err := ipc.CurrentOwner()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Trays) != 1 || f.Trays[0].User == "" || f.Trays[0].Version != strings.TrimPrefix(agent.Version, "v") {
		t.Errorf("facts trays %+v, want one of this process's account (%+v) on %s", f.Trays, me, agent.Version)
	}
	stop()

	// An agent that does not know tray_hello.
	serveOnly(t, endpoint, ipc.MethodStatus, func(context.Context, ipc.Caller, json.RawMessage) (any, error) { return ipc.StatusReply{}, nil })
	if err := a.Hello(ctx); err != nil {
		t.Errorf("Hello to an agent without tray_hello: %v, want nil", err)
	}
}
