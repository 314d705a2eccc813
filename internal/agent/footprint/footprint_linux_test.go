package footprint

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestReadOnlyMappings(t *testing.T) {
	// Abridged /proc/self/smaps of an agent: its code, read-only data (once
	// clean, once with a copied page in RAM, once with one swapped out),
	// data, heap, and another file.
	const smaps = `00400000-00776000 r-xp 00000000 fd:01 1234 /usr/bin/steward-agent
Size:               3544 kB
Rss:                3224 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00776000-00b08000 r--p 00376000 fd:01 1234 /usr/bin/steward-agent
Rss:                3144 kB
Anonymous:             0 kB
00b08000-00b10000 r--p 00708000 fd:01 1234 /usr/bin/steward-agent
Anonymous:             4 kB
00b10000-00b64000 rw-p 00710000 fd:01 1234 /usr/bin/steward-agent
Anonymous:           208 kB
00b64000-02ba7000 rw-p 00000000 00:00 0
Anonymous:           100 kB
7f08c6700000-7f08c6900000 r-xp 00000000 fd:01 99 /usr/lib/other.so
Anonymous:             0 kB
7f08c6900000-7f08c6a00000 r--p 00001000 fd:01 1234 /usr/bin/steward-agent (deleted)
Anonymous:             0 kB
7f08c6a00000-7f08c6b00000 r--p 00101000 fd:01 1234 /usr/bin/steward-agent
Anonymous:             0 kB
Swap:                  4 kB
`
	got, err := readOnlyMappings(strings.NewReader(smaps), unix.Mkdev(0xfd, 0x01), 1234)
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0x776000}, {0x776000, 0xb08000}, {0x7f08c6900000, 0x7f08c6a00000}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(mapping{})); diff != "" {
		t.Errorf("readOnlyMappings (-want +got):\n%s", diff)
	}
}

// TestRelease drops this test binary's code pages and goes on running it:
// the pages come back from the page cache.
func TestRelease(t *testing.T) {
	self := selfStat(t)
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := readOnlyMappings(f, uint64(self.Dev), self.Ino)
	f.Close()
	if err != nil || len(maps) == 0 {
		t.Fatalf("readOnlyMappings of this process = %v, %v; want its code and read-only data", maps, err)
	}
	for i := range 3 {
		if err := Release(); err != nil {
			t.Fatalf("Release #%d: %v", i+1, err)
		}
		if got := strings.Repeat("ab", 2); got != "abab" {
			t.Fatalf(`strings.Repeat("ab", 2) after Release = %q, want "abab"`, got)
		}
	}
}

// selfStat identifies this process's executable.
func selfStat(t *testing.T) syscall.Stat_t {
	t.Helper()
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &self); err != nil {
		t.Fatal(err)
	}
	return self
}

// exeRSS is the resident size of this process's read-only mappings of its
// own executable, in kB.
func exeRSS(t *testing.T) int {
	t.Helper()
	self := selfStat(t)
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") {
			_, in = parseHeader(fields, uint64(self.Dev), self.Ino)
			continue
		}
		if in && fields[0] == "Rss:" {
			n, _ := strconv.Atoi(fields[1])
			total += n
		}
	}
	return total
}

// TestDropCode: dropping the executable's pages lowers its resident size,
// what Trim does each minute.
func TestDropCode(t *testing.T) {
	before := exeRSS(t)
	if err := dropCode(); err != nil {
		t.Fatalf("dropCode: %v", err)
	}
	// Reading smaps maps some of the code back, far from all.
	if after := exeRSS(t); after >= before {
		t.Errorf("executable %d kB resident after dropCode, %d kB before", after, before)
	}
}

// TestTrimRepeatsUntilDone: the trim runs again and again, logs a failure
// and goes on, and returns when its context ends.
func TestTrimRepeatsUntilDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{})
	done := make(chan struct{})
	go func() {
		every(ctx, time.Millisecond, func() error {
			select {
			case calls <- struct{}{}:
			case <-ctx.Done():
			}
			return errors.New("no pages today")
		}, slog.New(slog.DiscardHandler))
		close(done)
	}()
	for range 3 {
		<-calls
	}
	cancel()
	<-done
}

// TestTrimmerRereadsMappings: the trimmer reads the mappings on its first
// drop and every recheck drops after, drops each time, and passes on a
// failure to read them.
func TestTrimmerRereadsMappings(t *testing.T) {
	reads := 0
	fail := false
	tr := &trimmer{read: func() ([]mapping, error) {
		reads++
		if fail {
			return nil, errors.New("no smaps")
		}
		return codeMappings()
	}}
	before := exeRSS(t)
	for range recheck + 1 {
		if err := tr.drop(); err != nil {
			t.Fatalf("drop: %v", err)
		}
	}
	if reads != 2 {
		t.Errorf("read the mappings %d times in %d drops, want 2", reads, recheck+1)
	}
	if len(tr.maps) == 0 {
		t.Fatal("no mappings of the test binary found")
	}
	if after := exeRSS(t); after >= before {
		t.Errorf("executable %d kB resident after the drops, %d kB before", after, before)
	}
	fail = true
	for range recheck - 1 {
		tr.drop()
	}
	if err := tr.drop(); err == nil {
		t.Error("a failure to read the mappings was not returned")
	}
}
