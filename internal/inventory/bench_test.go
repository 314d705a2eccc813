package inventory_test

import (
	"fmt"
	"os"
	"testing"
	"time"

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

// BenchmarkIngest measures storing a report of 3,000 programs: the first
// one (every row written), an unchanged one (the common case: only the
// snapshot row is written) and one with 30 programs upgraded.
//
//	STEWARD_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench Ingest ./internal/inventory/
func BenchmarkIngest(b *testing.B) {
	const programs = 3000
	backends := []struct {
		name string
		opts func(b *testing.B) store.Options
	}{{"sqlite", func(b *testing.B) store.Options { return store.Options{DataDir: b.TempDir()} }}}
	if os.Getenv(storetest.EnvPostgresURL) != "" {
		backends = append(backends, struct {
			name string
			opts func(b *testing.B) store.Options
		}{"postgres", func(b *testing.B) store.Options { return store.Options{URL: storetest.NewPostgresDatabase(b)} }})
	}
	for _, be := range backends {
		open := func(b *testing.B) *store.DB {
			db, err := store.Open(b.Context(), be.opts(b))
			if err != nil {
				b.Fatalf("open %s: %v", be.name, err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}
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
