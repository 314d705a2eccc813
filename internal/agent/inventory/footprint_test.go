package inventory

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// BenchmarkReportCycle runs what the agent does for a report of a Debian
// host with 2,000 packages, from the dpkg status file to the server's
// answer: parse, build and clean the list, encode and upload it to a fake
// server. B/op is what one report allocates (the burst the agent returns
// to the operating system afterwards); live-heap-B is the heap still in
// use after the cycles and a collection (the benchmark's own data, the
// fake server and the kept-alive connection included), which grows if
// anything of a report outlives its upload.
func BenchmarkReportCycle(b *testing.B) {
	var status strings.Builder
	info := fstest.MapFS{}
	for i := range 2000 {
		fmt.Fprintf(&status, "Package: package-%d\nStatus: install ok installed\nArchitecture: amd64\n"+
			"Maintainer: Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>\nVersion: 1.2.%d-4ubuntu0.1\n"+
			"Description: a package\n that does things\n\n", i, i)
		info[fmt.Sprintf("package-%d:amd64.list", i)] = &fstest.MapFile{ModTime: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	up := testUploader()
	up.Client = srv.Client()
	ctx := context.Background()

	cycle := func() {
		pkgs, err := parseDpkgStatus(strings.NewReader(status.String()))
		if err != nil {
			b.Fatal(err)
		}
		inv := Sanitize(protocol.Inventory{CollectedAt: time.Now(), Reason: protocol.InventorySchedule,
			Software: dpkgSoftware(pkgs, info)}, time.Now())
		body, err := protocol.EncodeInventory(inv)
		if err != nil {
			b.Fatal(err)
		}
		if err := up.Upload(ctx, func() string { return srv.URL }, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		cycle()
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc), "live-heap-B")
}
