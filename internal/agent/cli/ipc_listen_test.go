package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/control"
	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/protocol"
)

// TestServeIPCRetriesWhileEndpointTaken: while another process holds the
// endpoint (a squatter), the agent logs loudly and keeps trying; once it
// is free, the agent serves it.
func TestServeIPCRetriesWhileEndpointTaken(t *testing.T) {
	endpoint := testIPCEndpoint(t)
	squatter := ipc.NewServer(endpoint, slog.New(slog.DiscardHandler))
	squatter.Handle(ipc.MethodStatus, ipc.RoleUser, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
		return ipc.StatusReply{AgentID: "squatter"}, nil
	})
	sctx, scancel := context.WithCancel(t.Context())
	sdone := make(chan error, 1)
	go func() { sdone <- squatter.Serve(sctx) }()
	<-squatter.Ready()

	logs := &syncWriter{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	local := newLocalAPI("agent-7", settings.New(filepath.Join(t.TempDir(), config.PolicyFile)), log)
	local.ipcRetry = 10 * time.Millisecond
	client, err := control.New(control.Options{ServerURLs: []string{"http://127.0.0.1:9"}, AgentID: "agent-7", AgentSecret: "s",
		Facts: func(context.Context) (protocol.Facts, error) { return protocol.Facts{}, nil }, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	stop := serveIPC(t.Context(), endpoint, local, client)
	defer stop()

	waitFor(t, "two failed listens logged", func() bool {
		return strings.Count(logs.String(), "local IPC is not available") >= 2 ||
			strings.Contains(logs.String(), "local IPC listening")
	})
	if strings.Contains(logs.String(), "local IPC listening") {
		// Wine lets a second server create a pipe that exists (it ignores
		// the first instance's FILE_CREATE); Windows and Unix do not.
		t.Skip("a second server could listen beside the squatter (wine): the retry is tested on Linux")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "attempt=2") {
		t.Errorf("failed listens not logged as errors with their attempt:\n%s", logs)
	}
	scancel()
	if err := <-sdone; err != nil {
		t.Fatalf("squatter Serve: %v", err)
	}
	waitFor(t, "the agent serves the freed endpoint", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		c, err := dialLocal(ctx, endpoint)
		if err != nil {
			return false
		}
		defer c.Close()
		var st ipc.StatusReply
		return c.Call(ctx, ipc.MethodStatus, nil, &st) == nil && st.AgentID == "agent-7"
	})
	if !strings.Contains(logs.String(), "local IPC listening") {
		t.Errorf("listening not logged:\n%s", logs)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not syncing
	}
}
