package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/gateway"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/push"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// TestWelcomedResendsNewerPolicy: a change that lands between the
// resolution of an agent's welcome and its sending is sent again after the
// welcome, over a real hub and socket; an up-to-date welcome sends nothing.
func TestWelcomedResendsNewerPolicy(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t, store.Options{DataDir: t.TempDir()})
	log := slog.New(slog.DiscardHandler)
	svc := manage.New(db)
	c, err := svc.CreateClient(ctx, access.Console(), "Acme")
	if err != nil {
		t.Fatal(err)
	}
	site, err := svc.CreateSite(ctx, access.Console(), c.ID, "HQ")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}

	events := bus.NewLocal()
	h := hub.New(db, events, log, hub.Options{ReplicaID: "r1", Heartbeat: time.Minute, ServerVersion: "test"})
	pusher := push.New(effective.NewPolicies(db), h, events, log)
	h.SetPolicyHandler(pusher)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(runCtx)
	}()
	mux := http.NewServeMux()
	gateway.New(db, h, log, false).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Shutdown()
		srv.Close()
		cancel()
		<-done
	})

	body, _ := json.Marshal(protocol.EnrollRequest{Token: tok, Facts: protocol.Facts{Hostname: "pc", OS: "linux", Arch: "amd64", AgentVersion: "test"}})
	res, err := http.Post(srv.URL+protocol.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var enrolled protocol.EnrollResponse
	json.NewDecoder(res.Body).Decode(&enrolled)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("enroll: HTTP %d", res.StatusCode)
	}

	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+protocol.ConnectPath, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {protocol.FormatCredential(enrolled.AgentID, enrolled.AgentSecret)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	hello, _ := protocol.Encode(protocol.TypeHello, "", protocol.Facts{Hostname: "pc", OS: "linux", Arch: "amd64", AgentVersion: "test"})
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	read := func(within time.Duration) (protocol.Envelope, error) {
		rctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		_, b, err := ws.Read(rctx)
		if err != nil {
			return protocol.Envelope{}, err
		}
		return protocol.DecodeEnvelope(b)
	}
	env, err := read(10 * time.Second)
	if err != nil || env.Type != protocol.TypeWelcome {
		t.Fatalf("first message: %+v, %v; want the welcome", env, err)
	}
	welcome, err := protocol.DecodeWelcome(env.Data)
	if err != nil || welcome.Policy == nil {
		t.Fatalf("welcome: %+v, %v; want one with a policy", welcome, err)
	}
	old := welcome.Policy.Revision
	// Messages are handled once the connection is open, so the answer to a
	// heartbeat means the hub's own call to Welcomed has run.
	hb, _ := protocol.Encode(protocol.TypeHeartbeat, "hb-1", protocol.Heartbeat{Time: time.Now().UTC()})
	if err := ws.Write(ctx, websocket.MessageText, hb); err != nil {
		t.Fatal(err)
	}
	if env, err := read(10 * time.Second); err != nil || env.Type != protocol.TypeHeartbeat {
		t.Fatalf("answer to a heartbeat: %+v, %v", env, err)
	}

	// The site gets a policy; the change has not been pushed here yet
	// (its announcement is what races with the welcome), but the push
	// service has dropped its cached resolution.
	pol, err := svc.CreatePolicy(ctx, access.Console(), manage.PolicyInput{Name: "Fast", Document: json.RawMessage(`{"metrics":{"interval":"5s"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Assign(ctx, access.Console(), store.LevelSite, site.ID, pol.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pusher.Push(ctx, push.Change{}); err != nil {
		t.Fatal(err)
	}
	conns := h.Snapshot()
	if len(conns) != 1 {
		t.Fatalf("hub holds %d connections, want 1", len(conns))
	}

	pusher.Welcomed(ctx, conns[0], old)
	env, err = read(10 * time.Second)
	if err != nil || env.Type != protocol.TypePolicy {
		t.Fatalf("after a stale welcome: %+v, %v; want a policy", env, err)
	}
	update, err := protocol.DecodePolicyUpdate(env.Data)
	if err != nil || update.Revision == old {
		t.Fatalf("policy sent after the welcome: %+v, %v; want a revision other than %s", update, err, old)
	}

	// A welcome that carried the current policy is left alone.
	pusher.Welcomed(ctx, conns[0], update.Revision)
	if env, err := read(300 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after an up-to-date welcome: %+v, %v; want nothing sent", env, err)
	}
}
