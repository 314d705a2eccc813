package store_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestClients(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		acme := mustClient(t, db, "Acme")
		want := store.Client{ID: acme.ID, Name: "Acme", CreatedAt: clk.Now()}
		if diff := cmp.Diff(want, acme); diff != "" {
			t.Errorf("CreateClient (-want +got):\n%s", diff)
		}
		got, err := db.Client(ctx, acme.ID)
		if err != nil {
			t.Fatalf("Client(%s): %v", acme.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Client (-want +got):\n%s", diff)
		}
		if _, err := db.Client(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Client(unknown) error = %v, want ErrNotFound", err)
		}

		for _, name := range []string{"Acme", "ACME", "acme"} {
			err := db.WithTx(ctx, func(tx *store.Tx) error {
				_, err := tx.CreateClient(ctx, name)
				return err
			})
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("CreateClient(%q) with Acme present: error = %v, want ErrConflict", name, err)
			}
		}
	})
}

func TestListClients(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		clients, total, err := db.ListClients(ctx, store.Page{})
		if err != nil || total != 0 || len(clients) != 0 {
			t.Fatalf("ListClients() on an empty database = %v, %d, %v; want none", clients, total, err)
		}
		for _, name := range []string{"gamma", "Alpha", "beta", "Delta"} {
			mustClient(t, db, name)
		}
		names := func(cs []store.Client) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.Name)
			}
			return out
		}
		tests := []struct {
			page store.Page
			want []string
		}{
			{store.Page{}, []string{"Alpha", "beta", "Delta", "gamma"}},
			{store.Page{Limit: 2}, []string{"Alpha", "beta"}},
			{store.Page{Limit: 2, Offset: 2}, []string{"Delta", "gamma"}},
			{store.Page{Limit: 2, Offset: 3}, []string{"gamma"}},
			{store.Page{Offset: 10}, nil},
		}
		for _, tt := range tests {
			got, total, err := db.ListClients(ctx, tt.page)
			if err != nil {
				t.Fatalf("ListClients(%+v): %v", tt.page, err)
			}
			if total != 4 {
				t.Errorf("ListClients(%+v) total = %d, want 4", tt.page, total)
			}
			if diff := cmp.Diff(tt.want, names(got)); diff != "" {
				t.Errorf("ListClients(%+v) names (-want +got):\n%s", tt.page, diff)
			}
		}
	})
}

func TestSites(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		acme := mustClient(t, db, "Acme")
		globex := mustClient(t, db, "Globex")
		hq := mustSite(t, db, acme.ID, "HQ")
		want := store.Site{ID: hq.ID, ClientID: acme.ID, ClientName: "Acme", Name: "HQ", CreatedAt: clk.Now()}
		if diff := cmp.Diff(want, hq); diff != "" {
			t.Errorf("CreateSite (-want +got):\n%s", diff)
		}
		got, err := db.Site(ctx, hq.ID)
		if err != nil {
			t.Fatalf("Site(%s): %v", hq.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Site (-want +got):\n%s", diff)
		}
		if _, err := db.Site(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Site(unknown) error = %v, want ErrNotFound", err)
		}

		createSite := func(clientID, name string) error {
			return db.WithTx(ctx, func(tx *store.Tx) error {
				_, err := tx.CreateSite(ctx, clientID, name)
				return err
			})
		}
		if err := createSite(store.NewID(), "Nowhere"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateSite(unknown client) error = %v, want ErrNotFound", err)
		}
		for _, name := range []string{"HQ", "hq", "Hq"} {
			if err := createSite(acme.ID, name); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CreateSite(Acme, %q) with HQ present: error = %v, want ErrConflict", name, err)
			}
		}
		// Site names are unique per client, not globally.
		if err := createSite(globex.ID, "hq"); err != nil {
			t.Errorf("CreateSite(Globex, %q): %v", "hq", err)
		}
	})
}

func TestListSites(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		acme := mustClient(t, db, "acme")
		globex := mustClient(t, db, "Globex")
		mustSite(t, db, globex.ID, "Plant")
		mustSite(t, db, acme.ID, "warehouse")
		mustSite(t, db, acme.ID, "HQ")
		mustSite(t, db, acme.ID, "Branch")

		type row struct{ Client, Site string }
		rows := func(ss []store.Site) []row {
			var out []row
			for _, s := range ss {
				out = append(out, row{s.ClientName, s.Name})
			}
			return out
		}
		tests := []struct {
			clientID  string
			page      store.Page
			want      []row
			wantTotal int
		}{
			{"", store.Page{}, []row{{"acme", "Branch"}, {"acme", "HQ"}, {"acme", "warehouse"}, {"Globex", "Plant"}}, 4},
			{acme.ID, store.Page{}, []row{{"acme", "Branch"}, {"acme", "HQ"}, {"acme", "warehouse"}}, 3},
			{globex.ID, store.Page{}, []row{{"Globex", "Plant"}}, 1},
			{acme.ID, store.Page{Limit: 1, Offset: 1}, []row{{"acme", "HQ"}}, 3},
			{"", store.Page{Limit: 2, Offset: 3}, []row{{"Globex", "Plant"}}, 4},
			{store.NewID(), store.Page{}, nil, 0},
		}
		for _, tt := range tests {
			got, total, err := db.ListSites(ctx, tt.clientID, tt.page)
			if err != nil {
				t.Fatalf("ListSites(%q, %+v): %v", tt.clientID, tt.page, err)
			}
			if total != tt.wantTotal {
				t.Errorf("ListSites(%q, %+v) total = %d, want %d", tt.clientID, tt.page, total, tt.wantTotal)
			}
			if diff := cmp.Diff(tt.want, rows(got)); diff != "" {
				t.Errorf("ListSites(%q, %+v) (-want +got):\n%s", tt.clientID, tt.page, diff)
			}
		}
	})
}

// TestTenancyCounts checks the site, agent and online counts that the
// client and site pages show.
func TestTenancyCounts(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		acme := mustClient(t, db, "Acme")
		globex := mustClient(t, db, "Globex")
		empty := mustClient(t, db, "Empty")
		hq := mustSite(t, db, acme.ID, "HQ")
		branch := mustSite(t, db, acme.ID, "Branch")
		plant := mustSite(t, db, globex.ID, "Plant")
		mustSite(t, db, empty.ID, "Nothing here")

		a1 := mustEnroll(t, db, hq.ID, protocol.Facts{Hostname: "hq-1"})
		mustEnroll(t, db, hq.ID, protocol.Facts{Hostname: "hq-2"})
		a3 := mustEnroll(t, db, branch.ID, protocol.Facts{Hostname: "branch-1"})
		mustEnroll(t, db, plant.ID, protocol.Facts{Hostname: "plant-1"})
		connect(t, db, a1, "r1")
		connect(t, db, a3, "r1")

		ignoreTimes := cmpopts.IgnoreFields(store.Client{}, "ID", "CreatedAt")
		wantClients := []store.Client{
			{Name: "Acme", Sites: 2, Agents: 3, Online: 2},
			{Name: "Empty", Sites: 1},
			{Name: "Globex", Sites: 1, Agents: 1},
		}
		clients, _, err := db.ListClients(ctx, store.Page{})
		if err != nil {
			t.Fatalf("ListClients: %v", err)
		}
		if diff := cmp.Diff(wantClients, clients, ignoreTimes); diff != "" {
			t.Errorf("ListClients counts (-want +got):\n%s", diff)
		}
		c, err := db.Client(ctx, acme.ID)
		if err != nil {
			t.Fatalf("Client: %v", err)
		}
		if diff := cmp.Diff(wantClients[0], c, ignoreTimes); diff != "" {
			t.Errorf("Client(Acme) counts (-want +got):\n%s", diff)
		}

		ignoreSite := cmpopts.IgnoreFields(store.Site{}, "ID", "ClientID", "CreatedAt")
		wantSites := []store.Site{
			{ClientName: "Acme", Name: "Branch", Agents: 1, Online: 1},
			{ClientName: "Acme", Name: "HQ", Agents: 2, Online: 1},
		}
		sites, _, err := db.ListSites(ctx, acme.ID, store.Page{})
		if err != nil {
			t.Fatalf("ListSites: %v", err)
		}
		if diff := cmp.Diff(wantSites, sites, ignoreSite); diff != "" {
			t.Errorf("ListSites(Acme) counts (-want +got):\n%s", diff)
		}
		s, err := db.Site(ctx, hq.ID)
		if err != nil {
			t.Fatalf("Site: %v", err)
		}
		if diff := cmp.Diff(wantSites[1], s, ignoreSite); diff != "" {
			t.Errorf("Site(HQ) counts (-want +got):\n%s", diff)
		}
	})
}
