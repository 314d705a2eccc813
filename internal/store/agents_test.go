package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// fleet is a small fleet for list tests. Hostnames, versions and names are
// chosen so that byte order and any PostgreSQL collation agree.
type fleet struct {
	acme, globex            store.Client
	hq, branch, plant       store.Site
	byHost                  map[string]store.Agent
	alpha, bravo, charlie   store.Agent
	delta, echo             store.Agent
	enrolledAt, connectedAt time.Time
}

func newFleet(t *testing.T, db *store.DB, clk *clock) *fleet {
	t.Helper()
	f := &fleet{byHost: map[string]store.Agent{}}
	f.acme, f.globex = mustClient(t, db, "Acme"), mustClient(t, db, "Globex")
	f.hq, f.branch = mustSite(t, db, f.acme.ID, "HQ"), mustSite(t, db, f.acme.ID, "Branch")
	f.plant = mustSite(t, db, f.globex.ID, "Plant")
	enroll := func(site store.Site, facts protocol.Facts) store.Agent {
		clk.Advance(time.Minute)
		a := mustEnroll(t, db, site.ID, facts)
		f.byHost[a.Hostname] = a
		return a
	}
	// Created in this order, so IDs (the tie-breaker) ascend alpha..Echo.
	f.alpha = enroll(f.hq, protocol.Facts{Hostname: "alpha", OS: "linux", OSVersion: "24.04", AgentVersion: "1.2.0"})
	f.bravo = enroll(f.plant, protocol.Facts{Hostname: "Bravo", OS: "windows", OSVersion: "10.0.22631", AgentVersion: "1.1.0"})
	f.charlie = enroll(f.branch, protocol.Facts{Hostname: "charlie", OS: "linux", OSVersion: "12", AgentVersion: "1.0.0"})
	f.delta = enroll(f.plant, protocol.Facts{Hostname: "delta", OS: "darwin", OSVersion: "14.5", AgentVersion: "1.2.0"})
	f.echo = enroll(f.hq, protocol.Facts{Hostname: "Echo", OS: "linux", OSVersion: "24.04", AgentVersion: "1.1.0"})
	// last_seen ascending: Bravo, charlie, Echo, alpha, delta.
	clk.Advance(5 * time.Minute)
	connect(t, db, f.alpha, "r1")
	clk.Advance(time.Minute)
	connect(t, db, f.delta, "r1")
	return f
}

func hostnames(agents []store.Agent) []string {
	out := []string{}
	for _, a := range agents {
		out = append(out, a.Hostname)
	}
	return out
}

func TestListAgentsFilters(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		f := newFleet(t, db, clk)
		yes, no := true, false
		tests := []struct {
			filter store.AgentFilter
			want   []string
		}{
			{store.AgentFilter{}, []string{"alpha", "Bravo", "charlie", "delta", "Echo"}},
			{store.AgentFilter{ClientID: f.acme.ID}, []string{"alpha", "charlie", "Echo"}},
			{store.AgentFilter{ClientID: f.globex.ID}, []string{"Bravo", "delta"}},
			{store.AgentFilter{ClientID: store.NewID()}, []string{}},
			{store.AgentFilter{SiteID: f.hq.ID}, []string{"alpha", "Echo"}},
			{store.AgentFilter{SiteID: f.branch.ID}, []string{"charlie"}},
			{store.AgentFilter{Online: &yes}, []string{"alpha", "delta"}},
			{store.AgentFilter{Online: &no}, []string{"Bravo", "charlie", "Echo"}},
			{store.AgentFilter{OS: "linux"}, []string{"alpha", "charlie", "Echo"}},
			{store.AgentFilter{OS: "Linux"}, []string{}},
			{store.AgentFilter{OS: "darwin"}, []string{"delta"}},
			{store.AgentFilter{Query: "ECH"}, []string{"Echo"}},
			{store.AgentFilter{Query: "  alpha\t"}, []string{"alpha"}},
			{store.AgentFilter{Query: "   "}, []string{"alpha", "Bravo", "charlie", "delta", "Echo"}},
			{store.AgentFilter{Query: "zulu"}, []string{}},
			{store.AgentFilter{ClientID: f.acme.ID, Online: &yes}, []string{"alpha"}},
			{store.AgentFilter{ClientID: f.acme.ID, Online: &no, OS: "linux"}, []string{"charlie", "Echo"}},
			{store.AgentFilter{SiteID: f.hq.ID, Query: "a"}, []string{"alpha"}},
			{store.AgentFilter{ClientID: f.globex.ID, SiteID: f.hq.ID}, []string{}},
		}
		for _, tt := range tests {
			got, total, err := db.ListAgents(t.Context(), tt.filter, store.Page{})
			if err != nil {
				t.Fatalf("ListAgents(%+v): %v", tt.filter, err)
			}
			if total != len(tt.want) {
				t.Errorf("ListAgents(%+v) total = %d, want %d", tt.filter, total, len(tt.want))
			}
			if diff := cmp.Diff(tt.want, hostnames(got)); diff != "" {
				t.Errorf("ListAgents(%+v) hostnames (-want +got):\n%s", tt.filter, diff)
			}
		}

		// Listed agents carry their client and site names.
		got, _, err := db.ListAgents(t.Context(), store.AgentFilter{Query: "bravo"}, store.Page{})
		if err != nil || len(got) != 1 {
			t.Fatalf("ListAgents(bravo) = %v, %v", got, err)
		}
		if got[0].ClientName != "Globex" || got[0].SiteName != "Plant" || got[0].ID != f.bravo.ID {
			t.Errorf("ListAgents(bravo)[0] = client %q site %q id %s; want Globex, Plant, %s",
				got[0].ClientName, got[0].SiteName, got[0].ID, f.bravo.ID)
		}
	})
}

func TestListAgentsSort(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		newFleet(t, db, clk)
		tests := []struct {
			sort string
			want []string
		}{
			{"", []string{"alpha", "Bravo", "charlie", "delta", "Echo"}},
			{"hostname", []string{"alpha", "Bravo", "charlie", "delta", "Echo"}},
			{"-hostname", []string{"Echo", "delta", "charlie", "Bravo", "alpha"}},
			{"last_seen", []string{"Bravo", "charlie", "Echo", "alpha", "delta"}},
			{"-last_seen", []string{"delta", "alpha", "Echo", "charlie", "Bravo"}},
			// Ties (alpha and Echo share linux 24.04) fall back to ID order
			// in both directions, so paging stays stable.
			{"os", []string{"delta", "charlie", "alpha", "Echo", "Bravo"}},
			{"-os", []string{"Bravo", "alpha", "Echo", "charlie", "delta"}},
			{"client", []string{"charlie", "alpha", "Echo", "Bravo", "delta"}},
			{"-client", []string{"Bravo", "delta", "alpha", "Echo", "charlie"}},
			{"site", []string{"charlie", "alpha", "Echo", "Bravo", "delta"}},
			{"-site", []string{"Bravo", "delta", "alpha", "Echo", "charlie"}},
			{"version", []string{"charlie", "Bravo", "Echo", "alpha", "delta"}},
			{"-version", []string{"alpha", "delta", "Bravo", "Echo", "charlie"}},
			{"status", []string{"Bravo", "charlie", "Echo", "alpha", "delta"}},
			{"-status", []string{"alpha", "delta", "Bravo", "charlie", "Echo"}},
			// Unknown sorts fall back to hostname; they are never spliced
			// into the SQL.
			{"bogus", []string{"alpha", "Bravo", "charlie", "delta", "Echo"}},
			{"-bogus", []string{"Echo", "delta", "charlie", "Bravo", "alpha"}},
			{"hostname; DROP TABLE agents", []string{"alpha", "Bravo", "charlie", "delta", "Echo"}},
		}
		for _, tt := range tests {
			f := store.AgentFilter{Sort: tt.sort}
			got, total, err := db.ListAgents(t.Context(), f, store.Page{})
			if err != nil {
				t.Fatalf("ListAgents(%+v): %v", f, err)
			}
			if total != 5 {
				t.Errorf("ListAgents(%+v) total = %d, want 5", f, total)
			}
			if diff := cmp.Diff(tt.want, hostnames(got)); diff != "" {
				t.Errorf("ListAgents(%+v) order (-want +got):\n%s", f, diff)
			}
		}
	})
}

func TestValidAgentSort(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "hostname", "-hostname", "last_seen", "-os", "client", "site", "version", "-status"} {
		if !store.ValidAgentSort(s) {
			t.Errorf("ValidAgentSort(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"-", "--hostname", "Hostname", "id", "a.hostname", "hostname DESC", "+hostname"} {
		if store.ValidAgentSort(s) {
			t.Errorf("ValidAgentSort(%q) = true, want false", s)
		}
	}
}

func TestListAgentsPaging(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		newFleet(t, db, clk)
		tests := []struct {
			filter store.AgentFilter
			page   store.Page
			want   []string
			total  int
		}{
			{store.AgentFilter{}, store.Page{Limit: 2}, []string{"alpha", "Bravo"}, 5},
			{store.AgentFilter{}, store.Page{Limit: 2, Offset: 2}, []string{"charlie", "delta"}, 5},
			{store.AgentFilter{}, store.Page{Limit: 2, Offset: 4}, []string{"Echo"}, 5},
			{store.AgentFilter{}, store.Page{Limit: 2, Offset: 6}, []string{}, 5},
			{store.AgentFilter{Sort: "-hostname"}, store.Page{Limit: 3, Offset: 1}, []string{"delta", "charlie", "Bravo"}, 5},
			{store.AgentFilter{OS: "linux"}, store.Page{Limit: 1, Offset: 1}, []string{"charlie"}, 3},
			{store.AgentFilter{OS: "linux", Sort: "os"}, store.Page{Limit: 2, Offset: 1}, []string{"alpha", "Echo"}, 3},
			{store.AgentFilter{}, store.Page{Limit: -3, Offset: -1}, []string{"alpha", "Bravo", "charlie", "delta", "Echo"}, 5},
		}
		for _, tt := range tests {
			got, total, err := db.ListAgents(t.Context(), tt.filter, tt.page)
			if err != nil {
				t.Fatalf("ListAgents(%+v, %+v): %v", tt.filter, tt.page, err)
			}
			if total != tt.total {
				t.Errorf("ListAgents(%+v, %+v) total = %d, want %d", tt.filter, tt.page, total, tt.total)
			}
			if diff := cmp.Diff(tt.want, hostnames(got)); diff != "" {
				t.Errorf("ListAgents(%+v, %+v) (-want +got):\n%s", tt.filter, tt.page, diff)
			}
		}
	})
}

// TestListAgentsQuery covers the search box: hostnames, IPs and users,
// with LIKE wildcards matching themselves.
func TestListAgentsQuery(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		for _, f := range []protocol.Facts{
			{Hostname: "web_01", IPAddresses: []string{"10.0.0.5"}, Users: []string{"alice"}},
			{Hostname: "web-01", IPAddresses: []string{"10.0.0.15", "fe80::1"}, Users: []string{"bob"}},
			{Hostname: "DB%1", IPAddresses: []string{"192.168.1.10"}},
			{Hostname: "db11", IPAddresses: []string{"172.16.0.1"}, Users: []string{`CORP\Carol`}},
			{Hostname: "mac", IPAddresses: []string{"2001:db8::10"}, Users: []string{"dave_admin", "R&D <lab>"}},
		} {
			mustEnroll(t, db, site.ID, f)
		}
		tests := []struct {
			query string
			want  []string
		}{
			{"web", []string{"web-01", "web_01"}},
			{"WEB_", []string{"web_01"}},
			{"b_0", []string{"web_01"}},
			{"_", []string{"mac", "web_01"}},
			{"%", []string{"DB%1"}},
			{"db%", []string{"DB%1"}},
			{"%1", []string{"DB%1"}},
			{"db1", []string{"db11"}},
			{"10.0.0.5", []string{"web_01"}},
			{"10.0.0.1", []string{"web-01"}},
			{"fe80::", []string{"web-01"}},
			{"2001:DB8", []string{"mac"}},
			{"192.168.1", []string{"DB%1"}},
			{"BOB", []string{"web-01"}},
			{"carol", []string{"db11"}},
			{`corp\carol`, []string{"db11"}},
			{`\`, []string{"db11"}},
			{"dave_", []string{"mac"}},
			{"r&d <lab>", []string{"mac"}},
			// The lists are stored as JSON: their quotes must not match.
			{`"`, []string{}},
			{`","`, []string{}},
			{"nobody", []string{}},
		}
		for _, tt := range tests {
			f := store.AgentFilter{Query: tt.query}
			got, total, err := db.ListAgents(t.Context(), f, store.Page{})
			if err != nil {
				t.Fatalf("ListAgents(%+v): %v", f, err)
			}
			names := hostnames(got)
			slices.Sort(names) // collation-independent
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("ListAgents(%+v) hostnames (-want +got):\n%s", f, diff)
			}
			if total != len(tt.want) {
				t.Errorf("ListAgents(%+v) total = %d, want %d", f, total, len(tt.want))
			}
		}
	})
}

func TestMarkConnectedAll(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		var conns []store.Connection
		for i := range 3 {
			a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: fmt.Sprintf("pc-%d", i), OS: "linux"})
			conns = append(conns, store.Connection{AgentID: a.ID, ConnID: fmt.Sprintf("c%d", i), ReplicaID: "r1",
				RemoteAddr: fmt.Sprintf("203.0.113.%d:4000", i), Facts: protocol.Facts{Hostname: fmt.Sprintf("renamed-%d", i),
					OS: "linux", BootTime: clk.Now().Add(-time.Duration(i+1) * time.Hour), Users: []string{fmt.Sprintf("user%d", i)}}})
		}
		clk.Advance(time.Minute)
		if err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.MarkConnectedAll(ctx, conns) }); err != nil {
			t.Fatalf("MarkConnectedAll: %v", err)
		}
		for i, c := range conns {
			got, err := db.Agent(ctx, c.AgentID)
			if err != nil {
				t.Fatalf("Agent: %v", err)
			}
			if !got.Online || got.Hostname != c.Facts.Hostname || got.RemoteAddr != c.RemoteAddr || !got.BootTime.Equal(c.Facts.BootTime) ||
				!slices.Equal(got.Users, c.Facts.Users) || !got.ConnectedAt.Equal(clk.Now()) || !got.LastSeen.Equal(clk.Now()) {
				t.Errorf("agent %d after MarkConnectedAll = %+v, want online with the facts and address of %+v at %v", i, got, c, clk.Now())
			}
		}

		// One unknown agent fails the statement, and nothing is written.
		clk.Advance(time.Minute)
		bad := append(slices.Clone(conns[:1]), store.Connection{AgentID: store.NewID(), ConnID: "x"})
		bad[0].Facts.Hostname = "must-not-stick"
		err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.MarkConnectedAll(ctx, bad) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkConnectedAll with an unknown agent: error %v, want ErrNotFound", err)
		}
		if got, _ := db.Agent(ctx, conns[0].AgentID); got.Hostname != conns[0].Facts.Hostname {
			t.Errorf("hostname after the failed batch = %q, want %q", got.Hostname, conns[0].Facts.Hostname)
		}
	})
}

func TestAgentConnections(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		a := mustEnroll(t, db, site.ID, protocol.Facts{Hostname: "pc-1", OS: "linux", Users: []string{"alice"}})

		clk.Advance(time.Minute)
		newFacts := protocol.Facts{Hostname: "pc-1-renamed", OS: "linux", OSName: "ubuntu", OSVersion: "24.04",
			Arch: "arm64", Kernel: "6.8", AgentVersion: "1.3.0", BootTime: clk.Now().Add(-time.Hour),
			IPAddresses: []string{"10.1.1.1"}, Users: []string{}, Trays: []protocol.TrayInfo{{User: "alice", Session: "2", Version: "1.2.0"}}}
		err := db.MarkConnected(ctx, store.Connection{AgentID: a.ID, ConnID: "c1", ReplicaID: "r1", RemoteAddr: "203.0.113.5:40000", Facts: newFacts})
		if err != nil {
			t.Fatalf("MarkConnected: %v", err)
		}
		got, err := db.Agent(ctx, a.ID)
		if err != nil {
			t.Fatalf("Agent: %v", err)
		}
		want := store.Agent{ID: a.ID, ClientID: a.ClientID, ClientName: "Acme", SiteID: site.ID, SiteName: "HQ",
			Hostname: "pc-1-renamed", OS: "linux", OSName: "ubuntu", OSVersion: "24.04", Arch: "arm64", Kernel: "6.8",
			Version: "1.3.0", BootTime: newFacts.BootTime, IPAddresses: []string{"10.1.1.1"}, Users: []string{},
			Trays:      []protocol.TrayInfo{{User: "alice", Session: "2", Version: "1.2.0"}},
			EnrolledAt: a.EnrolledAt, LastSeen: clk.Now(), Online: true, ConnectedAt: clk.Now(), RemoteAddr: "203.0.113.5:40000", Status: store.StatusOnline}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Agent after MarkConnected (-want +got):\n%s", diff)
		}
		if err := db.MarkConnected(ctx, store.Connection{AgentID: store.NewID(), ConnID: "x", Facts: newFacts}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkConnected(unknown agent) error = %v, want ErrNotFound", err)
		}

		// Facts change while connected.
		clk.Advance(time.Minute)
		newFacts.Users = []string{"bob"}
		newFacts.Trays = nil // the tray stopped
		if err := db.UpdateFacts(ctx, a.ID, newFacts); err != nil {
			t.Fatalf("UpdateFacts: %v", err)
		}
		got, _ = db.Agent(ctx, a.ID)
		if !slices.Equal(got.Users, []string{"bob"}) || !got.LastSeen.Equal(clk.Now()) || !got.Online || got.Trays == nil || len(got.Trays) != 0 {
			t.Errorf("after UpdateFacts: users %q, trays %v, last_seen %v, online %t; want [bob], [], %v, true", got.Users, got.Trays, got.LastSeen, got.Online, clk.Now())
		}

		// The agent reconnects through another replica before the first
		// connection's cleanup runs: that cleanup must not take it offline.
		clk.Advance(time.Minute)
		connectedAt := clk.Now()
		if err := db.MarkConnected(ctx, store.Connection{AgentID: a.ID, ConnID: "c2", ReplicaID: "r2", Facts: newFacts}); err != nil {
			t.Fatalf("MarkConnected(c2): %v", err)
		}
		clk.Advance(time.Second)
		ok, err := db.MarkDisconnected(ctx, a.ID, "c1")
		if err != nil || ok {
			t.Errorf("MarkDisconnected(old connection) = %t, %v; want false, nil", ok, err)
		}
		if n, err := db.MarkReplicaOffline(ctx, "r1"); err != nil || n != 0 {
			t.Errorf("MarkReplicaOffline(old replica) = %d, %v; want 0, nil", n, err)
		}
		got, _ = db.Agent(ctx, a.ID)
		if !got.Online || !got.ConnectedAt.Equal(connectedAt) {
			t.Errorf("after the old connection's cleanup: online %t, connected_at %v; want true, %v", got.Online, got.ConnectedAt, connectedAt)
		}

		clk.Advance(time.Second)
		ok, err = db.MarkDisconnected(ctx, a.ID, "c2")
		if err != nil || !ok {
			t.Errorf("MarkDisconnected(current connection) = %t, %v; want true, nil", ok, err)
		}
		got, _ = db.Agent(ctx, a.ID)
		if got.Online || !got.LastSeen.Equal(clk.Now()) {
			t.Errorf("after MarkDisconnected: online %t, last_seen %v; want false, %v", got.Online, got.LastSeen, clk.Now())
		}
		if ok, err := db.MarkDisconnected(ctx, store.NewID(), "c2"); err != nil || ok {
			t.Errorf("MarkDisconnected(unknown agent) = %t, %v; want false, nil", ok, err)
		}
	})
}

func TestReplicaBookkeeping(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		site := mustSite(t, db, mustClient(t, db, "Acme").ID, "HQ")
		agents := map[string]store.Agent{}
		for _, h := range []string{"r1-a", "r1-b", "r1-gone", "r2-a", "never"} {
			agents[h] = mustEnroll(t, db, site.ID, protocol.Facts{Hostname: h})
		}
		connectedAt := clk.Now()
		r1a := connect(t, db, agents["r1-a"], "r1")
		r1b := connect(t, db, agents["r1-b"], "r1")
		gone := connect(t, db, agents["r1-gone"], "r1")
		connect(t, db, agents["r2-a"], "r2")
		if ok, err := db.MarkDisconnected(ctx, agents["r1-gone"].ID, gone); err != nil || !ok {
			t.Fatalf("MarkDisconnected = %t, %v", ok, err)
		}
		if c, err := db.CountAgents(ctx); err != nil || c != (store.AgentCounts{Total: 5, Online: 3}) {
			t.Errorf("CountAgents() = %+v, %v; want {Total:5 Online:3}", c, err)
		}

		lastSeen := func(h string) time.Time {
			t.Helper()
			a, err := db.Agent(ctx, agents[h].ID)
			if err != nil {
				t.Fatalf("Agent(%s): %v", h, err)
			}
			return a.LastSeen
		}

		// AssertPresence refreshes only the connections the replica holds:
		// not r1-gone, which left (even if its offline mark had failed), nor
		// an agent whose current connection is another one.
		clk.Advance(30 * time.Second)
		held := []store.Held{{agents["r1-a"].ID, r1a}, {agents["r1-b"].ID, r1b}, {agents["r2-a"].ID, "old-conn"}}
		restored, err := db.AssertPresence(ctx, held)
		if err != nil || len(restored) != 0 {
			t.Errorf("AssertPresence() = %q, %v; want none restored, nil", restored, err)
		}
		for h, want := range map[string]time.Time{"r1-a": clk.Now(), "r1-b": clk.Now(), "r1-gone": connectedAt, "r2-a": connectedAt} {
			if got := lastSeen(h); !got.Equal(want) {
				t.Errorf("last_seen of %s after AssertPresence = %v, want %v", h, got, want)
			}
		}
		if restored, err := db.AssertPresence(ctx, nil); err != nil || len(restored) != 0 {
			t.Errorf("AssertPresence(nothing held) = %q, %v; want none, nil", restored, err)
		}

		// r2 died silently: its agent was last seen before the cutoff.
		cutoff := connectedAt.Add(time.Second)
		ids, err := db.MarkStaleOffline(ctx, cutoff)
		if err != nil {
			t.Fatalf("MarkStaleOffline: %v", err)
		}
		if diff := cmp.Diff([]string{agents["r2-a"].ID}, ids); diff != "" {
			t.Errorf("MarkStaleOffline(%v) IDs (-want +got):\n%s", cutoff, diff)
		}
		if ids, _ := db.MarkStaleOffline(ctx, cutoff); len(ids) != 0 {
			t.Errorf("MarkStaleOffline again = %q, want none", ids)
		}
		if c, _ := db.CountAgents(ctx); c.Online != 2 {
			t.Errorf("CountAgents().Online after MarkStaleOffline = %d, want 2", c.Online)
		}
		// The cutoff is exclusive.
		if ids, _ := db.MarkStaleOffline(ctx, clk.Now()); len(ids) != 0 {
			t.Errorf("MarkStaleOffline(last_seen) = %q, want none", ids)
		}

		// A sweep marked r1-b offline while r1 could not write (its
		// last_seen went stale); r1 still holds it and says so again.
		if _, err := db.MarkStaleOffline(ctx, clk.Now().Add(time.Second)); err != nil {
			t.Fatalf("MarkStaleOffline: %v", err)
		}
		clk.Advance(time.Second)
		restored, err = db.AssertPresence(ctx, held[1:])
		if diff := cmp.Diff([]string{agents["r1-b"].ID}, restored); err != nil || diff != "" {
			t.Errorf("AssertPresence after a sweep: err %v, restored (-want +got):\n%s", err, diff)
		}
		if a, _ := db.Agent(ctx, agents["r1-b"].ID); !a.Online || !a.LastSeen.Equal(clk.Now()) {
			t.Errorf("r1-b after AssertPresence: online %t, last_seen %v; want true, %v", a.Online, a.LastSeen, clk.Now())
		}
		if a, _ := db.Agent(ctx, agents["r1-a"].ID); a.Online {
			t.Errorf("r1-a, not asserted, is online after the sweep")
		}
		connect(t, db, agents["r1-a"], "r1")

		clk.Advance(time.Minute)
		n, err := db.MarkReplicaOffline(ctx, "r1")
		if err != nil || n != 2 {
			t.Errorf("MarkReplicaOffline(r1) = %d, %v; want 2, nil", n, err)
		}
		if got := lastSeen("r1-a"); !got.Equal(clk.Now()) {
			t.Errorf("last_seen after MarkReplicaOffline = %v, want %v", got, clk.Now())
		}
		if c, _ := db.CountAgents(ctx); c != (store.AgentCounts{Total: 5}) {
			t.Errorf("CountAgents() after MarkReplicaOffline = %+v, want {Total:5 Online:0}", c)
		}
	})
}

func TestCountAgentsEmpty(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		c, err := db.CountAgents(t.Context())
		if err != nil || c != (store.AgentCounts{}) {
			t.Errorf("CountAgents() on an empty database = %+v, %v; want zero", c, err)
		}
		if ids, err := db.MarkStaleOffline(t.Context(), clk.Now()); err != nil || len(ids) != 0 {
			t.Errorf("MarkStaleOffline() on an empty database = %q, %v; want none", ids, err)
		}
	})
}
