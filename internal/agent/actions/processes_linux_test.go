package actions

import (
	"testing"
)

func TestParseProcStat(t *testing.T) {
	rest := " S 1 812 812 0 -1 4194560 1969 0 0 0 250 150 0 0 20 0 1 0 4242 12345678 1234 18446744073709551615"
	for _, tc := range []struct {
		line    string
		want    procStat
		wantErr bool
	}{
		{line: "812 (sshd)" + rest, want: procStat{comm: "sshd", ppid: 1, cpu: 4, startTick: 4242}},
		{line: "900 (my (odd) name) x)" + rest, want: procStat{comm: "my (odd) name) x", ppid: 1, cpu: 4, startTick: 4242}},
		{line: "900 (short) S 1 2", wantErr: true},
		{line: "900 no parens" + rest, wantErr: true},
		{line: "900 (x) S one 812 812 0 -1 4194560 1969 0 0 0 250 150 0 0 20 0 1 0 4242", wantErr: true},
	} {
		got, err := parseProcStat([]byte(tc.line))
		if tc.wantErr {
			if err == nil {
				t.Errorf("parseProcStat(%q) = %+v, want an error", tc.line, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseProcStat(%q) = %+v, %v, want %+v", tc.line, got, err, tc.want)
		}
	}
}

func TestFullName(t *testing.T) {
	for _, tc := range []struct {
		comm string
		argv []string
		want string
	}{
		{"sleep", []string{"sleep", "300"}, "sleep"},
		{"steward-agent.t", []string{"/usr/bin/steward-agent.test", "-v"}, "steward-agent.test"},
		{"kworker/0:1-eve", nil, "kworker/0:1-eve"},
		{"abcdefghijklmno", []string{"/bin/other"}, "abcdefghijklmno"},
	} {
		if got := fullName(tc.comm, tc.argv); got != tc.want {
			t.Errorf("fullName(%q, %q) = %q, want %q", tc.comm, tc.argv, got, tc.want)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("812 (sshd) S 1 812 812 0 -1 4194560 1969 0 0 0 250 150 0 0 20 0 1 0 4242 12345678 1234 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := parseProcStat(b); err == nil && st.cpu < 0 {
			t.Fatalf("negative CPU time %v", st.cpu)
		}
	})
}
