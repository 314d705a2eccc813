package footprint

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const canDropCode = true

// dropCode unmaps from this process the pages of its own executable that
// are mapped read-only and unmodified: its code and read-only data. They
// stay in the page cache and come back on the next access (a minor fault),
// so only what the agent still runs is mapped again.
//
// Why: Linux maps a file's pages around each one touched (64 kB at a
// time), and Go's start-up runs every package's initialisation, spread
// over the whole binary, so nearly all of it stays mapped and counted as
// the agent's resident memory although an idle agent runs a fraction of
// it.
//
// Only mappings without private (copied-on-write) pages are touched:
// MADV_DONTNEED would discard those changes, such as the relocations of a
// position-independent build.
func dropCode() error {
	maps, err := codeMappings()
	if err != nil {
		return err
	}
	return dropMappings(maps)
}

// codeMappings returns the mappings of our executable that dropCode may
// drop.
func codeMappings() ([]mapping, error) {
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &self); err != nil {
		return nil, fmt.Errorf("drop code pages: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, fmt.Errorf("drop code pages: %w", err)
	}
	defer f.Close()
	maps, err := readOnlyMappings(f, uint64(self.Dev), self.Ino)
	if err != nil {
		return nil, fmt.Errorf("drop code pages: %w", err)
	}
	return maps, nil
}

// recheck is how many of Trim's drops reuse the mappings read for the
// first: reading /proc/self/smaps costs more than the drop itself (CPU,
// and garbage the heap grows for), and a static executable's mappings do
// not change. Only a debugger's breakpoints would add modified pages in
// between, and they last a minute at most.
const recheck = 6

// trimmer is Trim's dropCode, reading the mappings every recheck drops.
type trimmer struct {
	read func() ([]mapping, error)
	maps []mapping
	n    int
}

func newTrimmer() *trimmer { return &trimmer{read: codeMappings} }

func (t *trimmer) drop() error {
	if t.n%recheck == 0 {
		maps, err := t.read()
		if err != nil {
			return err
		}
		t.maps = maps
	}
	t.n++
	return dropMappings(t.maps)
}

// dropMappings drops the pages of maps (MADV_DONTNEED).
func dropMappings(maps []mapping) error {
	for _, m := range maps {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("drop code pages %#x-%#x: %w", m.start, m.end, e)
		}
	}
	return nil
}

// mapping is an address range of the process.
type mapping struct{ start, end uintptr }

// readOnlyMappings reads a /proc/PID/smaps listing and returns the private
// read-only mappings of the file with the given device and inode that
// hold no anonymous (modified) pages.
func readOnlyMappings(r io.Reader, dev, ino uint64) ([]mapping, error) {
	var out []mapping
	var cur mapping
	match := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header line
			if match {
				out = append(out, cur)
			}
			cur, match = parseHeader(fields, dev, ino)
			continue
		}
		// Copied-on-write pages count under Anonymous while in RAM and under
		// Swap once swapped out: either way MADV_DONTNEED would lose them.
		if match && (fields[0] == "Anonymous:" || fields[0] == "Swap:") && len(fields) > 1 && fields[1] != "0" {
			match = false
		}
	}
	if match {
		out = append(out, cur)
	}
	return out, sc.Err()
}

// parseHeader reads "start-end perms offset major:minor inode [path]" and
// reports whether it is a private read-only mapping of the file dev/ino.
func parseHeader(fields []string, dev, ino uint64) (mapping, bool) {
	if len(fields) < 5 || (fields[1] != "r-xp" && fields[1] != "r--p") {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	maj, min, ok2 := strings.Cut(fields[3], ":")
	major, err3 := strconv.ParseUint(maj, 16, 32)
	minor, err4 := strconv.ParseUint(min, 16, 32)
	inode, err5 := strconv.ParseUint(fields[4], 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || end <= start {
		return mapping{}, false
	}
	if unix.Mkdev(uint32(major), uint32(minor)) != dev || inode != ino {
		return mapping{}, false
	}
	return mapping{start: uintptr(start), end: uintptr(end)}, true
}
