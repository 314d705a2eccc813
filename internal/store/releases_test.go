package store_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestReleases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		// Two full chunks and a short one, so range reads cross chunk edges.
		data := make([]byte, 2*store.ReleaseChunkBytes+1234)
		rand.NewChaCha8([32]byte{1}).Read(data)
		rel := store.Release{Version: "1.2.0", OS: "linux", Arch: "amd64", Channel: "stable", Size: int64(len(data)),
			SHA256: "ab", KeyID: "k", Signature: "{}", CreatedBy: "console"}
		var created store.Release
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			var err error
			created, err = tx.CreateRelease(ctx, rel, bytes.NewReader(data))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if created.Status != store.ReleaseActive || created.ID == "" {
			t.Fatalf("created %+v", created)
		}
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			_, err := tx.CreateRelease(ctx, rel, bytes.NewReader(data))
			return err
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same version again: %v, want ErrConflict", err)
		}
		// A short file leaves nothing behind.
		short := rel
		short.Version = "1.3.0"
		err = db.WithTx(ctx, func(tx *store.Tx) error {
			_, err := tx.CreateRelease(ctx, short, bytes.NewReader(data[:10]))
			return err
		})
		if err == nil {
			t.Fatal("a file shorter than its size was stored")
		}
		list, total, err := db.ListReleases(ctx, store.ReleaseFilter{Channel: "stable"}, store.Page{})
		if err != nil || total != 1 || len(list) != 1 || list[0].ID != created.ID {
			t.Fatalf("ListReleases = %+v, %d, %v", list, total, err)
		}
		if _, n, _ := db.ListReleases(ctx, store.ReleaseFilter{Channel: "beta"}, store.Page{}); n != 0 {
			t.Fatalf("beta lists %d releases", n)
		}

		got, err := io.ReadAll(db.OpenRelease(ctx, created))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), want %d equal", len(got), err, len(data))
		}
		// Served with ranges, as agents resume downloads.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "agent", time.Time{}, db.OpenRelease(r.Context(), created))
		}))
		defer srv.Close()
		for _, rg := range [][2]int{{0, 9}, {store.ReleaseChunkBytes - 5, store.ReleaseChunkBytes + 5}, {len(data) - 100, len(data) - 1}} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			req.Header.Set("Range", "bytes="+itoa(rg[0])+"-"+itoa(rg[1]))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[rg[0]:rg[1]+1]) {
				t.Fatalf("range %v: status %d, %d bytes, equal %v", rg, resp.StatusCode, len(body), bytes.Equal(body, data[rg[0]:rg[1]+1]))
			}
		}

		if err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.SetReleaseStatus(ctx, created.ID, store.ReleaseHalted) }); err != nil {
			t.Fatal(err)
		}
		if r, _ := db.GetRelease(ctx, created.ID); r.Status != store.ReleaseHalted {
			t.Fatalf("status %q after halt", r.Status)
		}
		if _, err := db.GetRelease(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetRelease(nope) = %v", err)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
