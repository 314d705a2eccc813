package inventory_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// enroll creates a client and site named client, and an agent in it.
func enroll(tb testing.TB, db *store.DB, client, hostname string) store.Agent {
	tb.Helper()
	ctx := tb.Context()
	svc := manage.New(db)
	var c store.Client
	clients, _, err := db.ListClients(ctx, store.Page{Limit: 500})
	if err != nil {
		tb.Fatalf("ListClients: %v", err)
	}
	for _, have := range clients {
		if have.Name == client {
			c = have
		}
	}
	if c.ID == "" {
		if c, err = svc.CreateClient(ctx, access.Console(), client); err != nil {
			tb.Fatalf("CreateClient: %v", err)
		}
	}
	site, err := svc.CreateSite(ctx, access.Console(), c.ID, hostname+" site")
	if err != nil {
		tb.Fatalf("CreateSite: %v", err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, access.Console(), site.ID, time.Hour, 0)
	if err != nil {
		tb.Fatalf("CreateEnrollmentToken: %v", err)
	}
	a, err := db.Enroll(ctx, auth.HashSecret(tok), store.NewAgent{SecretHash: "x", Facts: protocol.Facts{Hostname: hostname, OS: "linux"}, IP: "192.0.2.1"})
	if err != nil {
		tb.Fatalf("Enroll: %v", err)
	}
	return a
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func report(at time.Time, software ...protocol.Software) protocol.Inventory {
	return protocol.Inventory{
		CollectedAt: at, Reason: protocol.InventorySchedule,
		Hardware: protocol.Hardware{Manufacturer: "Lenovo", Model: "T14", MemoryBytes: 16 << 30,
			Disks: []protocol.Disk{{Name: "nvme0n1", SizeBytes: 512 << 30}}},
		OS:       protocol.OSInfo{Name: "Ubuntu", Version: "24.04", Build: "6.8.0-45-generic"},
		Software: software,
	}
}

func pkg(name, version string) protocol.Software {
	return protocol.Software{Name: name, Version: version, Publisher: "Canonical", Source: protocol.SoftwareDpkg, InstallDate: "2026-10-01"}
}

func ingest(t *testing.T, svc *inventory.Service, agentID string, inv protocol.Inventory) inventory.Result {
	t.Helper()
	res, err := svc.Ingest(t.Context(), agentID, inv)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return res
}

type change struct{ Kind, Subject, Old, New string }

func history(t *testing.T, db *store.DB, agentID string) []change {
	t.Helper()
	items, total, err := db.InventoryChanges(t.Context(), agentID, "", store.Page{Limit: 500})
	if err != nil {
		t.Fatalf("InventoryChanges: %v", err)
	}
	if total != len(items) {
		t.Errorf("InventoryChanges total %d, want %d", total, len(items))
	}
	out := []change{}
	for _, c := range items {
		out = append(out, change{c.Kind, c.Subject, c.OldValue, c.NewValue})
	}
	return out
}

func softwareOf(t *testing.T, db *store.DB, agentID, q string) []string {
	t.Helper()
	list, err := db.AgentSoftware(t.Context(), agentID, q)
	if err != nil {
		t.Fatalf("AgentSoftware: %v", err)
	}
	out := []string{}
	for _, s := range list {
		out = append(out, s.Name+" "+s.Version+" "+s.InstallDate)
	}
	return out
}

func newService(db *store.DB) *inventory.Service {
	return inventory.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestIngest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := newService(db)
		a := enroll(t, db, "Acme", "ws1")

		if _, err := db.InventorySnapshot(ctx, a.ID); err == nil {
			t.Fatal("InventorySnapshot before any report: got nil error, want not found")
		}
		// The first report: one marker, no per-program installs. A
		// duplicate entry is stored once.
		first := report(t0, pkg("curl", "8.5"), pkg("zsh", "5.9"), pkg("Bash", "5.2"), pkg("zsh", "5.9"))
		if res := ingest(t, svc, a.ID, first); res != (inventory.Result{Software: 3, Changes: 1}) {
			t.Errorf("first Ingest got %+v", res)
		}
		if diff := cmp.Diff([]change{{inventory.KindFirstReport, "inventory", "", "3 programs"}}, history(t, db, a.ID)); diff != "" {
			t.Errorf("history after the first report (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Bash 5.2 2026-10-01", "curl 8.5 2026-10-01", "zsh 5.9 2026-10-01"}, softwareOf(t, db, a.ID, "")); diff != "" {
			t.Errorf("software (-want +got):\n%s", diff)
		}
		snap, err := db.InventorySnapshot(ctx, a.ID)
		if err != nil {
			t.Fatalf("InventorySnapshot: %v", err)
		}
		want := store.InventorySnapshot{AgentID: a.ID, CollectedAt: t0, Reason: protocol.InventorySchedule,
			Hardware: first.Hardware, OS: first.OS, Errors: []string{}, SoftwareCount: 3}
		if diff := cmp.Diff(want, snap, cmpopts.IgnoreFields(store.InventorySnapshot{}, "ReceivedAt", "SoftwareHash")); diff != "" {
			t.Errorf("snapshot (-want +got):\n%s", diff)
		}

		// The same report again, later: nothing changed.
		if res := ingest(t, svc, a.ID, report(t0.Add(time.Hour), pkg("curl", "8.5"), pkg("zsh", "5.9"), pkg("Bash", "5.2"))); res.Changes != 0 {
			t.Errorf("unchanged Ingest recorded %d changes, want 0", res.Changes)
		}

		// Install, remove, upgrade, a new install date, more RAM.
		next := report(t0.Add(2*time.Hour), pkg("curl", "8.9"), pkg("Bash", "5.2"), pkg("git", "2.43"))
		next.Software[1].InstallDate = "2026-10-30"
		next.Hardware.MemoryBytes = 32 << 30
		if res := ingest(t, svc, a.ID, next); res != (inventory.Result{Software: 3, Changes: 4}) {
			t.Errorf("second Ingest got %+v", res)
		}
		wantHistory := []change{
			{inventory.KindMemoryChanged, "memory", "16.0 GiB", "32.0 GiB"},
			{inventory.KindSoftwareUpgraded, "curl", "8.5", "8.9"},
			{inventory.KindSoftwareInstalled, "git", "", "2.43"},
			{inventory.KindSoftwareRemoved, "zsh", "5.9", ""},
			{inventory.KindFirstReport, "inventory", "", "3 programs"},
		}
		if diff := cmp.Diff(wantHistory, history(t, db, a.ID), cmpopts.SortSlices(func(a, b change) bool { return a.Subject < b.Subject })); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Bash 5.2 2026-10-30", "curl 8.9 2026-10-01", "git 2.43 2026-10-01"}, softwareOf(t, db, a.ID, "")); diff != "" {
			t.Errorf("software (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Bash 5.2 2026-10-30"}, softwareOf(t, db, a.ID, "BAS")); diff != "" {
			t.Errorf("software matching BAS (-want +got):\n%s", diff)
		}

		// A delayed report collected earlier than the stored one is ignored.
		if res := ingest(t, svc, a.ID, report(t0.Add(90*time.Minute), pkg("curl", "1.0"))); !res.Stale {
			t.Errorf("stale Ingest got %+v, want Stale", res)
		}
		// An empty software list (unreadable) keeps the stored list; the
		// rest of the report still counts (RAM back to 16 GiB).
		broken := report(t0.Add(3 * time.Hour))
		broken.Errors = []string{"software: dpkg-query: exit status 2"}
		if res := ingest(t, svc, a.ID, broken); res != (inventory.Result{Software: 3, Changes: 1}) {
			t.Errorf("Ingest without software got %+v", res)
		}
		if got := softwareOf(t, db, a.ID, ""); len(got) != 3 {
			t.Errorf("software after an unreadable list: %q, want the 3 stored", got)
		}
		snap, _ = db.InventorySnapshot(ctx, a.ID)
		if diff := cmp.Diff(broken.Errors, snap.Errors); diff != "" || snap.SoftwareCount != 3 {
			t.Errorf("snapshot errors (-want +got):\n%s; software_count %d, want 3", diff, snap.SoftwareCount)
		}
		// The next readable list diffs against the kept one.
		if res := ingest(t, svc, a.ID, report(t0.Add(4*time.Hour), pkg("curl", "8.9"), pkg("git", "2.43"))); res.Changes != 1 {
			t.Errorf("Ingest after an unreadable list recorded %d changes, want 1 (Bash removed)", res.Changes)
		}

		// Kind filter and paging, newest first.
		items, total, err := db.InventoryChanges(ctx, a.ID, inventory.KindSoftwareRemoved, store.Page{Limit: 1})
		if err != nil || total != 2 || len(items) != 1 || items[0].Subject != "Bash" {
			t.Errorf("InventoryChanges(software_removed, limit 1) = %+v, %d, %v; want Bash of 2", items, total, err)
		}

	})
}

func TestSearchSoftware(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := newService(db)
		a := enroll(t, db, "Acme", "alpha")
		b := enroll(t, db, "Acme", "Bravo")
		c := enroll(t, db, "Globex", "charlie")
		ingest(t, svc, a.ID, report(t0, pkg("Mozilla Firefox", "128.0"), pkg("curl", "8.5")))
		ingest(t, svc, b.ID, report(t0, pkg("Mozilla Firefox", "129.0"), protocol.Software{Name: "Mozilla Firefox", Version: "129.0", Publisher: "Canonical", Source: protocol.SoftwareRPM}))
		ingest(t, svc, c.ID, report(t0, pkg("Mozilla Firefox", "128.0"), pkg("50%_off", "1")))

		type hit struct{ Host, Client, Version, Source string }
		tests := []struct {
			name string
			f    store.SoftwareFilter
			want []hit
		}{
			{"substring ignoring case", store.SoftwareFilter{Name: "FIREFOX"}, []hit{
				{"alpha", "Acme", "128.0", "dpkg"}, {"charlie", "Globex", "128.0", "dpkg"},
				{"Bravo", "Acme", "129.0", "dpkg"}, {"Bravo", "Acme", "129.0", "rpm"},
			}},
			{"exact version", store.SoftwareFilter{Name: "firefox", Version: "128.0"}, []hit{
				{"alpha", "Acme", "128.0", "dpkg"}, {"charlie", "Globex", "128.0", "dpkg"},
			}},
			{"version is not a prefix", store.SoftwareFilter{Name: "firefox", Version: "128"}, []hit{}},
			{"client", store.SoftwareFilter{Name: "firefox", ClientID: c.ClientID}, []hit{{"charlie", "Globex", "128.0", "dpkg"}}},
			{"LIKE wildcards are literal", store.SoftwareFilter{Name: "0%_"}, []hit{{"charlie", "Globex", "1", "dpkg"}}},
			{"percent alone matches no other name", store.SoftwareFilter{Name: "l%"}, []hit{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				items, total, err := db.SearchSoftware(ctx, tt.f, store.Page{})
				if err != nil {
					t.Fatalf("SearchSoftware: %v", err)
				}
				got := []hit{}
				for _, s := range items {
					got = append(got, hit{s.Hostname, s.ClientName, s.Version, s.Source})
				}
				if diff := cmp.Diff(tt.want, got); diff != "" || total != len(tt.want) {
					t.Errorf("SearchSoftware(%+v) total %d (-want +got):\n%s", tt.f, total, diff)
				}
			})
		}

		titles, total, err := db.SoftwareTitles(ctx, store.SoftwareFilter{Name: "firefox"}, store.Page{})
		if err != nil {
			t.Fatalf("SoftwareTitles: %v", err)
		}
		got := []string{}
		for _, ti := range titles {
			got = append(got, fmt.Sprintf("%s %s: %d", ti.Name, ti.Version, ti.Agents))
		}
		if diff := cmp.Diff([]string{"Mozilla Firefox 128.0: 2", "Mozilla Firefox 129.0: 1"}, got); diff != "" || total != 2 {
			t.Errorf("SoftwareTitles total %d (-want +got):\n%s", total, diff)
		}
		items, _, err := db.SearchSoftware(ctx, store.SoftwareFilter{TitleID: titles[1].ID}, store.Page{})
		if err != nil || len(items) != 2 || items[0].Hostname != "Bravo" {
			t.Errorf("SearchSoftware(title %s) = %+v, %v; want Bravo twice", titles[1].ID, items, err)
		}
	})
}

func TestPrune(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(db)
		a := enroll(t, db, "Acme", "old")
		old := time.Now().Add(-inventory.HistoryRetention - time.Hour)
		ingest(t, svc, a.ID, report(old, pkg("curl", "8.5")))
		ingest(t, svc, a.ID, report(time.Now(), pkg("curl", "8.9")))
		if err := svc.Prune(t.Context()); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if diff := cmp.Diff([]change{{inventory.KindSoftwareUpgraded, "curl", "8.5", "8.9"}}, history(t, db, a.ID)); diff != "" {
			t.Errorf("history after Prune (-want +got):\n%s", diff)
		}
	})
}

// TestIngestConcurrent uploads reports of one agent at once: each upload
// diffs against the one stored before it, so none fails on a row another
// wrote, and the newest report wins whatever the order.
func TestIngestConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(db)
		a := enroll(t, db, "Acme", "busy")
		const uploads = 8
		errs := make(chan error, uploads)
		for i := range uploads {
			go func() {
				inv := report(t0.Add(time.Duration(i)*time.Minute), pkg("curl", fmt.Sprintf("8.%d", i)), pkg("zsh", "5.9"))
				_, err := svc.Ingest(t.Context(), a.ID, inv)
				errs <- err
			}()
		}
		for range uploads {
			if err := <-errs; err != nil {
				t.Errorf("Ingest: %v", err)
			}
		}
		want := []string{fmt.Sprintf("curl 8.%d 2026-10-01", uploads-1), "zsh 5.9 2026-10-01"}
		if diff := cmp.Diff(want, softwareOf(t, db, a.ID, "")); diff != "" {
			t.Errorf("software after concurrent uploads (-want +got):\n%s", diff)
		}
	})
}

// TestIngestLargeChange replaces a list longer than one statement holds,
// so every write is chunked.
func TestIngestLargeChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(db)
		a := enroll(t, db, "Acme", "big")
		list := func(version string) []protocol.Software {
			out := make([]protocol.Software, 1200)
			for i := range out {
				out[i] = pkg(fmt.Sprintf("lib%04d", i), version)
			}
			return out
		}
		ingest(t, svc, a.ID, report(t0, list("1.0")...))
		// More program changes than MaxSoftwareChanges become one entry.
		if res := ingest(t, svc, a.ID, report(t0.Add(time.Hour), list("1.1")...)); res != (inventory.Result{Software: 1200, Changes: 1}) {
			t.Errorf("Ingest of 1,200 upgrades got %+v, want 1 summary change", res)
		}
		got := softwareOf(t, db, a.ID, "")
		if len(got) != 1200 || got[0] != "lib0000 1.1 2026-10-01" || got[1199] != "lib1199 1.1 2026-10-01" {
			t.Errorf("software after 1,200 upgrades: %d rows, first %q", len(got), got[:min(1, len(got))])
		}
		if _, total, err := db.InventoryChanges(t.Context(), a.ID, inventory.KindSoftwareUpgraded, store.Page{}); err != nil || total != 0 {
			t.Errorf("upgrades recorded one by one = %d, %v; want 0", total, err)
		}
		sum, _, err := db.InventoryChanges(t.Context(), a.ID, inventory.KindSoftwareChanged, store.Page{})
		if err != nil || len(sum) != 1 || sum[0].NewValue != "1200 programs changed: 1200 upgraded" {
			t.Errorf("summary entries = %+v, %v; want one saying 1200 programs changed: 1200 upgraded", sum, err)
		}
	})
}

// TestIngestSoftwareReadableLater: an agent whose first reports had no
// software list records one marker when the list arrives, not an install
// per program.
func TestIngestSoftwareReadableLater(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(db)
		a := enroll(t, db, "Acme", "late")
		ingest(t, svc, a.ID, report(t0))
		ingest(t, svc, a.ID, report(t0.Add(time.Hour), pkg("curl", "8.5"), pkg("zsh", "5.9")))
		want := []change{{inventory.KindFirstReport, "software", "", "2 programs"}, {inventory.KindFirstReport, "inventory", "", "0 programs"}}
		if diff := cmp.Diff(want, history(t, db, a.ID)); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if got := softwareOf(t, db, a.ID, ""); len(got) != 2 {
			t.Errorf("software %q, want 2 programs", got)
		}
	})
}

// TestIngestClockAhead stores a report from an agent whose clock runs
// ahead as collected on arrival, so the reports after its clock is put
// right are not taken for delayed old ones and ignored.
func TestIngestClockAhead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(db)
		a := enroll(t, db, "Acme", "ws1")
		before := time.Now()
		ingest(t, svc, a.ID, report(before.Add(12*time.Hour), pkg("curl", "8.5")))
		snap, err := db.InventorySnapshot(t.Context(), a.ID)
		if err != nil {
			t.Fatalf("InventorySnapshot: %v", err)
		}
		if after := time.Now(); snap.CollectedAt.After(after) {
			t.Errorf("report from 12 hours ahead stored as collected at %v, want by %v (when it arrived)", snap.CollectedAt, after)
		}
		// The clock is right again.
		if res := ingest(t, svc, a.ID, report(time.Now(), pkg("curl", "8.9"))); res.Stale || res.Changes != 1 {
			t.Errorf("Ingest after the clock was put right got %+v, want stored with 1 change (the upgrade)", res)
		}
		if diff := cmp.Diff([]string{"curl 8.9 2026-10-01"}, softwareOf(t, db, a.ID, "")); diff != "" {
			t.Errorf("software (-want +got):\n%s", diff)
		}
	})
}
