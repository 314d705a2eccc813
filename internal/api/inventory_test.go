package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// upload sends a report the way the agent does: gzip JSON over the
// gateway, on a real socket.
func (h *commandHarness) upload(ctx context.Context, id, secret string, inv protocol.Inventory) error {
	body, err := protocol.EncodeInventory(inv)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", h.URL+protocol.InventoryPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", protocol.FormatCredential(id, secret))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("upload: status %d", res.StatusCode)
	}
	return nil
}

func invReport(at time.Time, software ...protocol.Software) protocol.Inventory {
	yes := true
	return protocol.Inventory{
		CollectedAt: at, Reason: protocol.InventoryStart,
		Hardware: protocol.Hardware{Manufacturer: "HP", Model: "EliteBook 840", MemoryBytes: 16 << 30,
			CPU: protocol.CPU{Model: "Core i5", Cores: 4, Threads: 8}},
		OS:       protocol.OSInfo{Name: "Windows 11 Pro", Version: "23H2", Build: "22631.4460", PendingReboot: &yes},
		Software: software,
		Errors:   []string{"bios: access denied"},
	}
}

func win(name, version string) protocol.Software {
	return protocol.Software{Name: name, Version: version, Publisher: "Vendor", Source: protocol.SoftwareRegistry64}
}

type inventoryBody struct {
	store.InventorySnapshot
	Software []store.InstalledSoftware `json:"software"`
}

func TestInventoryAPI(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newCommandHarness(t, s)
		ctx := t.Context()
		id, secret := h.enroll(t, "laptop-1")
		at := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
		if err := h.upload(ctx, id, secret, invReport(at, win("Mozilla Firefox", "128.0"), win("7-Zip", "23.01"))); err != nil {
			t.Fatal(err)
		}
		if err := h.upload(ctx, id, secret, invReport(at.Add(time.Minute), win("Mozilla Firefox", "129.0"), win("7-Zip", "23.01"), win("Notepad++", "8.6"))); err != nil {
			t.Fatal(err)
		}
		base := "/api/v1/agents/" + id + "/inventory"

		t.Run("inventory", func(t *testing.T) {
			got := decode[inventoryBody](t, h.as(t, store.RoleReadonly, "GET", base, "").want(t, http.StatusOK))
			if !got.CollectedAt.Equal(at.Add(time.Minute)) || got.Hardware.Model != "EliteBook 840" || got.OS.PendingReboot == nil ||
				!*got.OS.PendingReboot || got.SoftwareCount != 3 || !cmp.Equal(got.Errors, []string{"bios: access denied"}) {
				t.Errorf("inventory = %+v", got.InventorySnapshot)
			}
			names := []string{}
			for _, s := range got.Software {
				names = append(names, s.Name+" "+s.Version)
			}
			if diff := cmp.Diff([]string{"7-Zip 23.01", "Mozilla Firefox 129.0", "Notepad++ 8.6"}, names); diff != "" {
				t.Errorf("software (-want +got):\n%s", diff)
			}
		})

		t.Run("history", func(t *testing.T) {
			got := decode[listOf[store.InventoryChange]](t, h.as(t, store.RoleReadonly, "GET", base+"/history", "").want(t, http.StatusOK))
			kinds := []string{}
			for _, c := range got.Items {
				kinds = append(kinds, c.Kind+" "+c.Subject+" "+c.OldValue+">"+c.NewValue)
			}
			want := []string{"software_upgraded Mozilla Firefox 128.0>129.0", "software_installed Notepad++ >8.6", "first_report inventory >2 programs"}
			if diff := cmp.Diff(want, kinds); diff != "" || got.Total != 3 {
				t.Errorf("history total %d (-want +got):\n%s", got.Total, diff)
			}
			paged := decode[listOf[store.InventoryChange]](t, h.as(t, store.RoleReadonly, "GET", base+"/history?kind=first_report&limit=1", "").want(t, http.StatusOK))
			if paged.Total != 1 || len(paged.Items) != 1 || paged.Items[0].Kind != inventory.KindFirstReport || paged.Limit != 1 {
				t.Errorf("history?kind=first_report = %+v", paged)
			}
		})

		t.Run("software search", func(t *testing.T) {
			other, otherSecret := h.enroll(t, "laptop-2")
			if err := h.upload(ctx, other, otherSecret, invReport(at, win("Mozilla Firefox", "128.0"))); err != nil {
				t.Fatal(err)
			}
			type hit struct{ Host, Client, Site, Version string }
			tests := []struct {
				query string
				want  []hit
			}{
				{"name=firefox", []hit{{"laptop-2", "Acme", "Ops", "128.0"}, {"laptop-1", "Acme", "Ops", "129.0"}}},
				{"name=FIREFOX&version=129.0", []hit{{"laptop-1", "Acme", "Ops", "129.0"}}},
				{"name=" + url.QueryEscape("  zip "), []hit{{"laptop-1", "Acme", "Ops", "23.01"}}},
				{"name=firefox&client_id=" + h.globex.ID, []hit{}},
				{"name=firefox&limit=1&offset=1", []hit{{"laptop-1", "Acme", "Ops", "129.0"}}},
			}
			for _, tt := range tests {
				got := decode[listOf[store.SoftwareInstall]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/software?"+tt.query, "").want(t, http.StatusOK))
				hits := []hit{}
				for _, s := range got.Items {
					hits = append(hits, hit{s.Hostname, s.ClientName, s.SiteName, s.Version})
					if s.AgentID == "" || s.Source != protocol.SoftwareRegistry64 || s.Publisher != "Vendor" {
						t.Errorf("%s: item %+v lacks agent id, source or publisher", tt.query, s)
					}
				}
				if diff := cmp.Diff(tt.want, hits); diff != "" {
					t.Errorf("GET /api/v1/software?%s (-want +got):\n%s", tt.query, diff)
				}
			}
		})

		t.Run("bad input", func(t *testing.T) {
			unknown := "/api/v1/agents/" + store.NewID()
			tests := []struct {
				path   string
				status int
				says   string
			}{
				{"/api/v1/agents/" + h.web01.ID + "/inventory", http.StatusNotFound, "has not reported an inventory yet"},
				{unknown + "/inventory", http.StatusNotFound, "not found"},
				{unknown + "/inventory/history", http.StatusNotFound, "not found"},
				{base + "/history?kind=reboot", http.StatusBadRequest, `kind "reboot"`},
				{base + "/history?limit=0", http.StatusBadRequest, "limit"},
				{"/api/v1/software", http.StatusBadRequest, "name is required"},
				{"/api/v1/software?name=%20%20", http.StatusBadRequest, "name is required"},
				{"/api/v1/software?name=x", http.StatusBadRequest, "at least 2"},
				{"/api/v1/software?name=" + strings.Repeat("x", 201), http.StatusBadRequest, "at most 200"},
				{"/api/v1/software?name=xy&version=" + strings.Repeat("1", 201), http.StatusBadRequest, "at most 200"},
				{"/api/v1/software?name=xy&offset=-1", http.StatusBadRequest, "offset"},
				{"/api/v1/software?name=%ff%fe", http.StatusBadRequest, "UTF-8"},
				{"/api/v1/software?name=xy&version=%ff", http.StatusBadRequest, "UTF-8"},
			}
			for _, tt := range tests {
				e := h.as(t, store.RoleReadonly, "GET", tt.path, "").want(t, tt.status).errorBody(t)
				if !strings.Contains(e["error"], tt.says) {
					t.Errorf("GET %s error %q, want it to contain %q", tt.path, e["error"], tt.says)
				}
			}
		})

		// The refresh loop: the inventory command reaches a connected
		// agent, which uploads and answers with the count.
		t.Run("inventory command", func(t *testing.T) {
			rid, rsecret := h.enroll(t, "laptop-3")
			h.connectWith(t, rid, rsecret, func(cmd protocol.Command) any {
				if cmd.Name != protocol.CommandInventory {
					return nil
				}
				inv := invReport(time.Now().UTC(), win("Slack", "4.41"))
				inv.Reason = protocol.InventoryRequest
				if err := h.upload(context.Background(), rid, rsecret, inv); err != nil {
					return nil
				}
				return protocol.InventoryOutput{Software: 1}
			})
			res := h.as(t, store.RoleTechnician, "POST", "/api/v1/agents/"+rid+"/commands", `{"name":"inventory"}`).want(t, http.StatusCreated)
			cmd := decode[store.Command](t, res)
			if got := cmd.ExpiresAt.Sub(cmd.CreatedAt); got != 10*time.Minute {
				t.Errorf("inventory command timeout %v, want 10m", got)
			}
			done := poll(t, "the inventory command to finish", func() store.Command {
				return decode[store.Command](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/commands/"+cmd.ID, "").want(t, http.StatusOK))
			}, func(c store.Command) bool { return c.State != store.CommandQueued && c.State != store.CommandSent })
			var out protocol.InventoryOutput
			if err := json.Unmarshal(done.Output, &out); done.State != store.CommandDone || err != nil || out.Software != 1 {
				t.Fatalf("inventory command = %+v (output %s), want done with 1 program", done, done.Output)
			}
			got := decode[inventoryBody](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+rid+"/inventory", "").want(t, http.StatusOK))
			if got.Reason != protocol.InventoryRequest || len(got.Software) != 1 || got.Software[0].Name != "Slack" {
				t.Errorf("inventory after the command = %+v", got)
			}
		})
	})
}
