package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/sim"
)

// inventoryGateway is a stand-in for the server's gateway: it welcomes
// each agent, asks it for its inventory, and records the uploads and
// results. Agent a1's upload is refused with a 500.
type inventoryGateway struct {
	t       *testing.T
	mu      sync.Mutex
	uploads map[string]protocol.Inventory // by agent ID
	results map[string]protocol.Result    // by command ID
}

func (g *inventoryGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := g.t
	id, _, ok := protocol.ParseCredential(r.Header.Get("Authorization"))
	if !ok {
		http.Error(w, "no credential", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case protocol.InventoryPath:
		inv, err := protocol.DecodeInventoryBody(r.Body, r.Header.Get("Content-Encoding") == "gzip")
		if err != nil {
			t.Errorf("upload of %s: %v", id, err)
		}
		if id == "a1" {
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: "database unavailable"})
			return
		}
		g.mu.Lock()
		g.uploads[id] = inv
		g.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case protocol.ConnectPath:
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if _, _, err := c.Read(ctx); err != nil { // hello
			return
		}
		write := func(typ string, v any) {
			b, _ := protocol.Encode(typ, "", v)
			c.Write(ctx, websocket.MessageText, b)
		}
		write(protocol.TypeWelcome, protocol.Welcome{AgentID: id, ProtocolVersion: protocol.Version, HeartbeatInterval: protocol.Duration(time.Minute)})
		write(protocol.TypeCommand, protocol.Command{CommandID: "inv-" + id, Name: protocol.CommandInventory})
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			env, err := protocol.DecodeEnvelope(b)
			if err != nil || env.Type != protocol.TypeResult {
				continue
			}
			res, err := protocol.DecodeResult(env.Data)
			if err != nil {
				t.Errorf("result of %s: %v", id, err)
			}
			g.mu.Lock()
			g.results[res.CommandID] = res
			g.mu.Unlock()
		}
	default:
		http.NotFound(w, r)
	}
}

func (g *inventoryGateway) resultCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.results)
}

func TestInventoryCommandUploads(t *testing.T) {
	g := &inventoryGateway{t: t, uploads: map[string]protocol.Inventory{}, results: map[string]protocol.Result{}}
	srv := httptest.NewServer(g)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan sim.Summary, 1)
	go func() {
		sum, err := sim.Run(ctx, sim.Config{Servers: []string{srv.URL}, Agents: 3, StateDir: writeIdentities(t, 3)})
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- sum
	}()
	waitFor(t, "three results", func() bool { return g.resultCount() == 3 }, func() string { return "" })
	cancel()
	sum := <-done

	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range []string{"a0", "a2"} {
		res, inv := g.results["inv-"+id], g.uploads[id]
		var out protocol.InventoryOutput
		if err := json.Unmarshal(res.Output, &out); err != nil || res.Status != protocol.ResultOK || out.Software == 0 || out.Software != len(inv.Software) {
			t.Errorf("%s: result %+v, upload of %d entries; want ok with the upload's count", id, res, len(inv.Software))
		}
	}
	if slices.Equal(g.uploads["a0"].Software, g.uploads["a2"].Software) {
		t.Error("agents a0 and a2 uploaded the same software; want it to vary by agent")
	}
	if res := g.results["inv-a1"]; res.Status != protocol.ResultError || !strings.Contains(res.Error, "500") || !strings.Contains(res.Error, "database unavailable") {
		t.Errorf("a1: result %+v, want an error naming the status and the server's message", res)
	}
	if sum.Inventories != 2 || sum.Commands != 3 {
		t.Errorf("summary inventories=%d commands=%d, want 2 and 3", sum.Inventories, sum.Commands)
	}
}
