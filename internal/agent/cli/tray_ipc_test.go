package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/agent/tray"
	"github.com/steward-rmm/steward/internal/protocol"
)

// TestTrayAgentOverIPC drives the tray's adapter against the handlers
// run serves, over a real endpoint: what the tray shows is what the agent
// keeps, and a help request lands in the agent's outbox file.
func TestTrayAgentOverIPC(t *testing.T) {
	dir := t.TempDir()
	store := settings.New(filepath.Join(dir, config.PolicyFile))
	if err := store.Apply(protocol.PolicyUpdate{Revision: "r1", Policy: json.RawMessage(`{"tray":{"company":"Acme IT"}}`)}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	local := newLocalAPI("agent-7", store, log)
	local.setState(config.State{Connected: true})
	local.collected(func(context.Context) (protocol.Facts, error) {
		return protocol.Facts{Hostname: "web-01", IPAddresses: []string{"10.0.0.5"}}, nil
	})(t.Context())
	helpFile := filepath.Join(dir, "help-requests.json")
	client := testControlClient(t, log, helpFile)
	endpoint := testIPCEndpoint(t)
	stop := serveIPC(t.Context(), endpoint, local, client)
	defer stop()
	dialAgent(t, endpoint).Close() // listening

	a := ipcTrayAgent{endpoint: endpoint}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	st, err := a.Status(ctx)
	if err != nil || !st.Connected || st.AgentID != "agent-7" || st.Hostname != "web-01" || len(st.IPs) != 1 || st.Version == "" {
		t.Errorf("Status got %+v, %v; want connected agent-7 on web-01 with one IP and a version", st, err)
	}
	raw, err := a.TrayConfig(ctx)
	if c, perr := tray.ParseConfig(raw); err != nil || perr != nil || c.Company != "Acme IT" || !c.HelpRequests {
		t.Errorf("TrayConfig got %s, %v (%+v, %v); want Acme IT over the defaults", raw, err, c, perr)
	}
	id, err := a.HelpRequest(ctx, "Outlook will not start.")
	if err != nil || id == "" {
		t.Fatalf("HelpRequest got %q, %v; want an ID", id, err)
	}
	if _, err := a.HelpRequest(ctx, ""); !errors.Is(err, ipc.ErrBadRequest) {
		t.Errorf("empty HelpRequest got %v, want ErrBadRequest", err)
	}
	var kept struct {
		Requests []protocol.HelpRequest `json:"requests"`
	}
	b, err := os.ReadFile(helpFile)
	if err == nil {
		err = json.Unmarshal(b, &kept)
	}
	if err != nil || len(kept.Requests) != 1 || kept.Requests[0].ID != id || kept.Requests[0].User == "" {
		t.Errorf("help file holds %+v, %v; want request %s with the caller's user", kept, err, id)
	}

	// Past the caller's allowance: the tray gets the agent's words.
	for range helpBurst {
		a.HelpRequest(ctx, "again")
	}
	if _, err := a.HelpRequest(ctx, "one too many"); !errors.Is(err, ipc.ErrRateLimited) ||
		!strings.HasPrefix(err.Error(), "you have sent several help requests") {
		t.Errorf("HelpRequest past the limit got %v, want ErrRateLimited in words", err)
	}

	// An endpoint served by another account than expected is an impostor
	// to the tray: it asks nothing and shows the agent as not running.
	me, err := ipc.CurrentOwner()
	if err != nil {
		t.Fatal(err)
	}
	other := "S-1-5-19"
	if me.SID == "" {
		other = strconv.Itoa(me.UID + 1)
	}
	t.Setenv(ipcOwnerEnv, other)
	st, err = a.Status(ctx)
	if !errors.Is(err, ipc.ErrImpostor) {
		t.Fatalf("Status from an impostor got %+v, %v; want ErrImpostor", st, err)
	}
	if m := tray.Build(st, err, tray.DefaultConfig()); m.State != tray.StateDisconnected || !strings.Contains(m.Tooltip, "not running") {
		t.Errorf("tray model with an impostor got %v %q, want disconnected, not running", m.State, m.Tooltip)
	}
	t.Setenv(ipcOwnerEnv, "current")

	stop()
	if _, err := a.Status(ctx); err == nil {
		t.Error("Status with no agent listening succeeded")
	}
}

// TestHelpRequestRateLimit: each local account gets helpBurst requests at
// once and one more each helpEvery; refused ones answer ErrRateLimited
// with the wait, invalid ones do not count, and other accounts are not
// affected.
func TestHelpRequestRateLimit(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	local := newLocalAPI("agent-7", settings.New(filepath.Join(dir, config.PolicyFile)), log)
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	local.now = func() time.Time { return now }
	client := testControlClient(t, log, filepath.Join(dir, "help-requests.json"))
	alice := ipc.Caller{User: "alice", UID: 1000, SID: "S-1-5-21-1-2-3-1001"}
	bob := ipc.Caller{User: "bob", UID: 1001, SID: "S-1-5-21-1-2-3-1002"}
	ask := func(c ipc.Caller, msg string) error {
		p, _ := json.Marshal(ipc.HelpRequestArgs{Message: msg})
		_, err := local.helpRequest(t.Context(), client, c, p)
		return err
	}
	if err := ask(alice, ""); !errors.Is(err, ipc.ErrBadRequest) {
		t.Fatalf("empty request got %v, want ErrBadRequest", err)
	}
	for i := range helpBurst {
		if err := ask(alice, "help"); err != nil {
			t.Fatalf("request %d of the burst: %v", i+1, err)
		}
	}
	err := ask(alice, "help")
	if !errors.Is(err, ipc.ErrRateLimited) {
		t.Fatalf("request past the burst got %v, want ErrRateLimited", err)
	}
	if !strings.Contains(err.Error(), "3m20s") {
		t.Errorf("refusal %q does not say when to retry (3m20s)", err)
	}
	if err := ask(bob, "help"); err != nil {
		t.Errorf("another account's request got %v, want it recorded", err)
	}
	now = now.Add(helpEvery - time.Second)
	if err := ask(alice, "help"); !errors.Is(err, ipc.ErrRateLimited) {
		t.Errorf("request before helpEvery got %v, want ErrRateLimited", err)
	}
	now = now.Add(time.Second)
	if err := ask(alice, "help"); err != nil {
		t.Errorf("request after helpEvery got %v, want it recorded", err)
	}
}

// TestPowerNoticeOverIPC: a pending power action reaches the tray through
// the status over a real endpoint, and the facts the server gets; when it
// is gone, neither has it.
func TestPowerNoticeOverIPC(t *testing.T) {
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
	collect := local.collected(func(context.Context) (protocol.Facts, error) { return protocol.Facts{Hostname: "web-01"}, nil })
	at := time.Date(2026, 12, 4, 22, 30, 0, 0, time.UTC)
	pending := protocol.PowerState{Action: protocol.PowerReboot, At: at, Message: "updates", By: "alice"}
	for _, p := range []protocol.PowerState{pending, {}} {
		local.setPower(p)
		st, err := a.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := tray.PowerNotice{}
		if p.Action != "" {
			want = tray.PowerNotice{Action: "reboot", At: at, Message: "updates", By: "alice"}
		}
		if !st.Power.At.Equal(want.At) || st.Power.Action != want.Action || st.Power.Message != want.Message || st.Power.By != want.By {
			t.Errorf("tray sees %+v, want %+v", st.Power, want)
		}
		f, err := collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.PowerPending; (got == nil) != (p.Action == "") || (got != nil && *got != p) {
			t.Errorf("facts power_pending %+v, want %+v", got, p)
		}
	}
}
