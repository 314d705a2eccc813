package watchdog

import "testing"

func TestParseProcStat(t *testing.T) {
	for _, tt := range []struct {
		in    string
		comm  string
		state byte
		ok    bool
	}{
		{"42 (sleep) S 1 42 42 0", "sleep", 'S', true},
		{"42 (my (odd) name) Z 1 42", "my (odd) name", 'Z', true},
		{"42 (a) b) R 1", "a) b", 'R', true},
		{"42 (trunc", "", 0, false},
		{"42 (x)", "", 0, false},
		{"", "", 0, false},
	} {
		comm, state, ok := parseProcStat([]byte(tt.in))
		if comm != tt.comm || state != tt.state || ok != tt.ok {
			t.Errorf("parseProcStat(%q) = %q, %q, %v; want %q, %q, %v", tt.in, comm, state, ok, tt.comm, tt.state, tt.ok)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("42 (sleep) S 1 42 42 0")
	f.Add("1 ()) R")
	f.Fuzz(func(t *testing.T, in string) {
		comm, _, ok := parseProcStat([]byte(in))
		if ok && len(comm) >= len(in) {
			t.Fatalf("name %q as long as its line %q", comm, in)
		}
	})
}
