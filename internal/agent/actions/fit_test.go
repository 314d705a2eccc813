package actions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/protocol"
)

func encodedSize(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestFitProcesses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n         int
		cmdline   int
		truncated bool
	}{
		{"small", 20, 100, false},
		{"long command lines", 100, 10_000, true},
		{"many processes", 3000, 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var list protocol.ProcessList
			for i := range tc.n {
				list.Processes = append(list.Processes, protocol.ProcessInfo{PID: int32(tc.n - i), Name: "proc",
					MemoryBytes: uint64(i) << 20, CommandLine: strings.Repeat("é", tc.cmdline/2), StartedAt: time.Now()})
			}
			got := fitProcesses(list)
			if size := encodedSize(t, got); size > protocol.MaxOutputBytes {
				t.Fatalf("output is %d bytes, limit %d", size, protocol.MaxOutputBytes)
			}
			if got.Truncated != tc.truncated {
				t.Errorf("Truncated = %v, want %v", got.Truncated, tc.truncated)
			}
			for i, p := range got.Processes {
				if i > 0 && got.Processes[i-1].PID >= p.PID {
					t.Fatalf("not sorted by PID at %d", i)
				}
				if !utf8.ValidString(p.CommandLine) {
					t.Fatalf("command line cut inside a character: %q", p.CommandLine)
				}
				// The n-PID+1'th had memory (n-PID) MiB: the biggest are
				// kept, so the smallest kept is above every dropped one.
				if dropped := tc.n - len(got.Processes); int(p.MemoryBytes>>20) < dropped {
					t.Fatalf("kept a process of %d MiB while dropping %d smaller ones", p.MemoryBytes>>20, dropped)
				}
			}
			if !tc.truncated && len(got.Processes) != tc.n {
				t.Errorf("kept %d of %d", len(got.Processes), tc.n)
			}
		})
	}
}

func TestFitLog(t *testing.T) {
	var l protocol.EventLog
	now := time.Now()
	for i := range protocol.MaxLogEntries {
		l.Entries = append(l.Entries, protocol.LogEntry{Time: now.Add(-time.Duration(i) * time.Second), Level: "info",
			Message: strings.Repeat("x", 5000)})
	}
	got := fitLog(l)
	if size := encodedSize(t, got); size > protocol.MaxOutputBytes {
		t.Fatalf("output is %d bytes, limit %d", size, protocol.MaxOutputBytes)
	}
	if !got.Truncated || len(got.Entries) == 0 || !got.Entries[0].Time.Equal(now) {
		t.Errorf("got %d entries, truncated %v, first at %v; want the newest kept, truncated", len(got.Entries), got.Truncated, got.Entries[0].Time)
	}
	if small := fitLog(protocol.EventLog{Entries: l.Entries[:3]}); small.Truncated || len(small.Entries) != 3 {
		t.Errorf("3 entries: kept %d, truncated %v; want all, not truncated", len(small.Entries), small.Truncated)
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello world", 8, "hello…"},
		{"ééééé", 6, "é…"},
		{"hello", 2, ""},
	} {
		if got, _ := shorten(tc.s, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("shorten(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
