package inventory_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// benchSoftware is a Windows-sized software list of n programs.
func benchSoftware(n int) []protocol.Software {
	out := make([]protocol.Software, n)
	for i := range out {
		out[i] = protocol.Software{
			Name: fmt.Sprintf("Program %04d", i), Version: fmt.Sprintf("%d.%d.%d", i%7, i%13, i),
			Publisher: fmt.Sprintf("Vendor %d", i%50), Source: protocol.SoftwareRegistry64, InstallDate: "2026-01-02",
		}
	}
	return out
}

// benchBackend opens a fresh database of one engine.
type benchBackend struct {
	name string
	opts func(b *testing.B) store.Options
}

func (be benchBackend) open(b *testing.B) *store.DB {
	db, _ := be.openURL(b)
	return db
}

// openURL also returns the PostgreSQL URL, empty for SQLite.
func (be benchBackend) openURL(b *testing.B) (*store.DB, string) {
	opts := be.opts(b)
	db, err := store.Open(b.Context(), opts)
	if err != nil {
		b.Fatalf("open %s: %v", be.name, err)
	}
	b.Cleanup(func() { db.Close() })
	return db, opts.URL
}

// benchBackends is SQLite and, when STEWARD_TEST_DATABASE_URL is set,
// PostgreSQL.
func benchBackends() []benchBackend {
	out := []benchBackend{{"sqlite", func(b *testing.B) store.Options { return store.Options{DataDir: b.TempDir()} }}}
	if os.Getenv(storetest.EnvPostgresURL) != "" {
		out = append(out, benchBackend{"postgres", func(b *testing.B) store.Options { return store.Options{URL: storetest.NewPostgresDatabase(b)} }})
	}
	return out
}

// BenchmarkIngest measures storing a report of 3,000 programs: the first
// one (every row written), an unchanged one (the common case: only the
// snapshot row is written) and one with 30 programs upgraded.
//
//	STEWARD_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench Ingest ./internal/inventory/
func BenchmarkIngest(b *testing.B) {
	const programs = 3000
	for _, be := range benchBackends() {
		open := be.open
		b.Run(be.name+"/first", func(b *testing.B) {
			db := open(b)
			svc := newService(db)
			agents := make([]store.Agent, b.N)
			for i := range agents {
				agents[i] = enroll(b, db, "Bench", fmt.Sprintf("host%d", i))
			}
			inv := report(t0, benchSoftware(programs)...)
			b.ResetTimer()
			for i := range b.N {
				if _, err := svc.Ingest(b.Context(), agents[i].ID, inv); err != nil {
					b.Fatalf("Ingest: %v", err)
				}
			}
		})
		b.Run(be.name+"/unchanged", func(b *testing.B) {
			db := open(b)
			svc := newService(db)
			a := enroll(b, db, "Bench", "host")
			inv := report(t0, benchSoftware(programs)...)
			if _, err := svc.Ingest(b.Context(), a.ID, inv); err != nil {
				b.Fatalf("Ingest: %v", err)
			}
			b.ResetTimer()
			for i := range b.N {
				inv.CollectedAt = t0.Add(time.Duration(i+1) * time.Minute)
				res, err := svc.Ingest(b.Context(), a.ID, inv)
				if err != nil || res.Changes != 0 {
					b.Fatalf("Ingest = %+v, %v; want no changes", res, err)
				}
			}
		})
		b.Run(be.name+"/30-upgraded", func(b *testing.B) {
			db := open(b)
			svc := newService(db)
			a := enroll(b, db, "Bench", "host")
			even, odd := benchSoftware(programs), benchSoftware(programs)
			for i := range 30 {
				odd[i*100].Version += ".1"
			}
			b.ResetTimer()
			for i := range b.N {
				inv := report(t0.Add(time.Duration(i)*time.Minute), even...)
				if i%2 == 1 {
					inv.Software = odd
				}
				if _, err := svc.Ingest(b.Context(), a.ID, inv); err != nil {
					b.Fatalf("Ingest: %v", err)
				}
			}
		})
	}
}

// BenchmarkSearchSoftware measures the fleet search on 2,000 agents with
// 500 programs each (a million installations) drawn from 50,000 titles:
// a name matching 1% of the titles, first page and total, and the
// titles grouped with their agent counts.
//
//	STEWARD_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench SearchSoftware ./internal/inventory/
func BenchmarkSearchSoftware(b *testing.B) {
	const (
		agents   = 2000
		programs = 500
		titles   = 50_000
	)
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			db, pgURL := be.openURL(b)
			ids := enrollMany(b, db, agents)
			all := make([]store.SoftwareTitle, titles)
			for i := range all {
				all[i] = store.SoftwareTitle{Name: fmt.Sprintf("Program %05d", i), Version: "1.0", Publisher: "Vendor"}
				all[i].ID = store.TitleID(all[i].Name, all[i].Version, all[i].Publisher)
			}
			ctx := b.Context()
			err := db.WithTx(ctx, func(tx *store.Tx) error {
				if err := tx.AddSoftwareTitles(ctx, all); err != nil {
					return err
				}
				for n, id := range ids {
					rows := make([]store.InstalledSoftware, programs)
					for i := range rows {
						rows[i] = store.InstalledSoftware{TitleID: all[(n*7919+i*97)%titles].ID, Source: protocol.SoftwareRegistry64}
					}
					if err := tx.AddAgentSoftware(ctx, id, rows); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatalf("fill: %v", err)
			}
			storetest.Analyze(b, pgURL)
			// "Program 012" matches 100 of the 50,000 titles.
			f := store.SoftwareFilter{Name: "program 012"}
			b.Run("installations", func(b *testing.B) {
				for b.Loop() {
					if _, total, err := db.SearchSoftware(ctx, f, store.Page{Limit: 50}); err != nil || total == 0 {
						b.Fatalf("SearchSoftware = %d, %v", total, err)
					}
				}
			})
			b.Run("titles", func(b *testing.B) {
				for b.Loop() {
					if _, total, err := db.SoftwareTitles(ctx, f, store.Page{Limit: 50}); err != nil || total != 100 {
						b.Fatalf("SoftwareTitles = %d, %v; want 100", total, err)
					}
				}
			})
		})
	}
}

// enrollMany enrolls n agents into one site and returns their ids.
func enrollMany(b *testing.B, db *store.DB, n int) []string {
	first := enroll(b, db, "Bench", "host0")
	tok, _, err := manage.New(db).CreateEnrollmentToken(b.Context(), access.Console(), first.SiteID, time.Hour, 0)
	if err != nil {
		b.Fatalf("CreateEnrollmentToken: %v", err)
	}
	ids := []string{first.ID}
	for i := 1; i < n; i++ {
		a, err := db.Enroll(b.Context(), auth.HashSecret(tok), store.NewAgent{SecretHash: "x",
			Facts: protocol.Facts{Hostname: fmt.Sprintf("host%d", i), OS: "windows"}, IP: "192.0.2.1"})
		if err != nil {
			b.Fatalf("Enroll: %v", err)
		}
		ids = append(ids, a.ID)
	}
	return ids
}
