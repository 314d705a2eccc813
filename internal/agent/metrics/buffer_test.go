package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)

// sample i is at t0+i minutes with cpu.percent i.
func sample(i int) protocol.Sample {
	return protocol.Sample{Time: t0.Add(time.Duration(i) * time.Minute), Values: map[string]float64{"cpu.percent": float64(i)}}
}

func openBuffer(t *testing.T, dir string, maxSamples int, maxBytes int64) *Buffer {
	t.Helper()
	b, err := OpenBuffer(dir, maxSamples, maxBytes)
	if err != nil {
		t.Fatalf("OpenBuffer: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func appendN(t *testing.T, b *Buffer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := b.Append(sample(i)); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
}

// contents returns the cpu.percent of every buffered sample, in order,
// and the unreported drop count.
func contents(t *testing.T, b *Buffer) ([]int, int64) {
	t.Helper()
	_, batch, ok := b.Next(1 << 30)
	if !ok {
		return nil, 0
	}
	var got []int
	for _, s := range batch.Samples {
		got = append(got, int(s.Values["cpu.percent"]))
	}
	return got, batch.Dropped
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestBufferMaxSamples(t *testing.T) {
	b := openBuffer(t, t.TempDir(), 5, 1<<20)
	appendN(t, b, 0, 8)
	got, dropped := contents(t, b)
	if diff := cmp.Diff(seq(3, 8), got); diff != "" {
		t.Errorf("buffer (-want +got):\n%s", diff)
	}
	if dropped != 3 {
		t.Errorf("dropped got %d, want 3", dropped)
	}
}

func TestBufferMaxBytes(t *testing.T) {
	line, _ := json.Marshal(line{Seq: 5, Sample: sample(10)}) // seqs 0-9 hold samples 10-19
	per := int64(len(line) + 1)                               // every test sample encodes to the same size
	b := openBuffer(t, t.TempDir(), 1000, 4*per)
	appendN(t, b, 10, 20)
	got, dropped := contents(t, b)
	if diff := cmp.Diff(seq(16, 20), got); diff != "" {
		t.Errorf("buffer (-want +got):\n%s", diff)
	}
	if dropped != 6 {
		t.Errorf("dropped got %d, want 6", dropped)
	}

	// A sample larger than the whole bound is dropped itself.
	if err := b.SetLimits(1000, per-1); err != nil {
		t.Fatal(err)
	}
	if got, dropped := contents(t, b); got != nil || dropped != 0 {
		t.Errorf("after shrinking: got %v (dropped %d), want empty", got, dropped)
	}
	if n, dropped := b.Len(); n != 0 || dropped != 10 {
		t.Errorf("Len() = %d, %d; want 0, 10", n, dropped)
	}
	appendN(t, b, 20, 21)
	if n, dropped := b.Len(); n != 0 || dropped != 11 {
		t.Errorf("Len() = %d, %d; want 0, 11", n, dropped)
	}
}

func TestBufferAck(t *testing.T) {
	dir := t.TempDir()
	b := openBuffer(t, dir, 4, 1<<20)
	appendN(t, b, 0, 6) // 0 and 1 dropped

	id, batch, ok := b.Next(3)
	if !ok || len(batch.Samples) != 3 || batch.Dropped != 2 {
		t.Fatalf("Next(3) = %d samples, dropped %d, %v; want 3, 2, true", len(batch.Samples), batch.Dropped, ok)
	}
	// More samples and drops while the batch is in flight.
	appendN(t, b, 6, 8) // 2 and 3 dropped
	if err := b.Acked(id); err != nil {
		t.Fatalf("Acked: %v", err)
	}
	got, dropped := contents(t, b)
	if diff := cmp.Diff(seq(5, 8), got); diff != "" {
		t.Errorf("after ack (-want +got):\n%s", diff)
	}
	if dropped != 2 {
		t.Errorf("unreported drops got %d, want 2 (the ones after the batch)", dropped)
	}
	// Acknowledging again changes nothing.
	if err := b.Acked(id); err != nil {
		t.Fatalf("Acked again: %v", err)
	}
	if got, _ := contents(t, b); !cmp.Equal(seq(5, 8), got) {
		t.Errorf("after second ack got %v, want %v", got, seq(5, 8))
	}
	if err := b.Acked("nonsense"); err == nil {
		t.Error("Acked(nonsense) succeeded, want an error")
	}

	id, _, _ = b.Next(10)
	if err := b.Acked(id); err != nil {
		t.Fatal(err)
	}
	if n, dropped := b.Len(); n != 0 || dropped != 0 {
		t.Errorf("Len() = %d, %d after acking everything; want 0, 0", n, dropped)
	}
	if _, _, ok := b.Next(10); ok {
		t.Error("Next on an empty buffer is ok")
	}
}

func TestBufferPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "metrics-buffer")
	b := openBuffer(t, dir, 5, 1<<20)
	appendN(t, b, 0, 7) // 0, 1 dropped
	id, _, _ := b.Next(2)
	if err := b.Acked(id); err != nil { // 2, 3 gone, drops reported
		t.Fatal(err)
	}
	appendN(t, b, 7, 9)
	b.Close()

	b = openBuffer(t, dir, 5, 1<<20)
	got, dropped := contents(t, b)
	if diff := cmp.Diff(seq(4, 9), got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if dropped != 0 {
		t.Errorf("dropped got %d, want 0", dropped)
	}
	// Appending after a reopen continues in order.
	appendN(t, b, 9, 10) // 4 dropped
	got, dropped = contents(t, b)
	if diff := cmp.Diff(seq(5, 10), got); diff != "" {
		t.Errorf("after append (-want +got):\n%s", diff)
	}
	if dropped != 1 {
		t.Errorf("dropped got %d, want 1", dropped)
	}

	// Smaller bounds at the next open apply at once.
	b.Close()
	b = openBuffer(t, dir, 2, 1<<20)
	if got, dropped := contents(t, b); !cmp.Equal(seq(8, 10), got) || dropped != 4 {
		t.Errorf("reopened with max 2: got %v, dropped %d; want %v, 4", got, dropped, seq(8, 10))
	}

	if runtime.GOOS != "windows" {
		for _, name := range []string{"", samplesFile, headFile} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm() &^ 0o700; perm != 0 {
				t.Errorf("%s permissions %v, want owner only", name, fi.Mode().Perm())
			}
		}
	}
}

// TestBufferTornLine: a crash in the middle of an append leaves a partial
// last line, which is skipped, and appends after the reopen are intact.
func TestBufferTornLine(t *testing.T) {
	dir := t.TempDir()
	b := openBuffer(t, dir, 100, 1<<20)
	appendN(t, b, 0, 3)
	b.Close()
	f, err := os.OpenFile(filepath.Join(dir, samplesFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":3,"t":"2025-01-02T03:`)
	f.Close()

	b = openBuffer(t, dir, 100, 1<<20)
	appendN(t, b, 3, 5)
	b.Close()
	b = openBuffer(t, dir, 100, 1<<20)
	if got, _ := contents(t, b); !cmp.Equal(seq(0, 5), got) {
		t.Errorf("got %v, want %v", got, seq(0, 5))
	}
}

// TestBufferCompacts: acknowledged samples do not make the file grow
// without bound.
func TestBufferCompacts(t *testing.T) {
	dir := t.TempDir()
	b := openBuffer(t, dir, 100000, 64<<20)
	big := protocol.Sample{Time: t0, Values: map[string]float64{}}
	for i := range 200 {
		big.Values[fmt.Sprintf("cpu.core_percent:%d", i)] = 50
	}
	for range 400 {
		if err := b.Append(big); err != nil {
			t.Fatal(err)
		}
		id, _, _ := b.Next(1)
		if err := b.Acked(id); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, samplesFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 2*compactMin {
		t.Errorf("samples file is %d bytes with nothing live, want at most %d", fi.Size(), 2*compactMin)
	}
}
