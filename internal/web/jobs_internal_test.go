package web

import (
	"strings"
	"testing"
)

func TestStripANSI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain\n", "plain\n"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"\x1b[1;32;40mbold green\x1b[m done", "bold green done"},
		{"\x1b]0;window title\x07text", "text"},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"a\x1b[2Jb\x1b[10;5Hc", "abc"},
		{"keep\x1bcgone? no: c is the escape's", "keepgone? no: c is the escape's"},
		{"cut at the end \x1b[", "cut at the end "},
		{"\x1b[12ünï", "12ünï"},
		{"\x1b", ""},
		{"<b>ünï</b>", "<b>ünï</b>"},
	} {
		if got := stripANSI(tc.in); got != tc.want {
			t.Errorf("stripANSI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzStripANSI checks that no escape survives, whatever a script prints.
func FuzzStripANSI(f *testing.F) {
	for _, s := range []string{"\x1b[31mred", "\x1b]0;t\x07", "\x1b\x1b[", "a\x1b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := stripANSI(s); strings.ContainsRune(got, 0x1b) {
			t.Errorf("stripANSI(%q) = %q, still has an escape", s, got)
		}
	})
}
