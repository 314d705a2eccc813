package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	got, err := loadState(dir)
	if err != nil || len(got) != 0 {
		t.Fatalf("loadState(missing dir) = %v, %v; want empty", got, err)
	}
	ids := []Identity{{Index: 0, ID: "a0", Secret: "s0"}, {Index: 7, ID: "a7", Secret: "s7"}}
	if err := saveState(dir, ids); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, ids); err != nil { // replaces
		t.Fatal(err)
	}
	got, err = loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Identity{0: ids[0], 7: ids[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loadState after saveState (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d files, want only %s (no temporary files left)", len(entries), StateFile)
	}
}

func TestLoadStateRejects(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"not JSON", `{`, "unexpected end"},
		{"other version", `{"version":2,"agents":[]}`, "version 2"},
		{"no secret", `{"version":1,"agents":[{"index":1,"agent_id":"a"}]}`, "incomplete identity at index 1"},
		{"negative index", `{"version":1,"agents":[{"index":-1,"agent_id":"a","agent_secret":"s"}]}`, "incomplete identity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := loadState(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadState(%s) error = %v, want one containing %q", tt.doc, err, tt.want)
			}
		})
	}
}
