package web

import "testing"

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/agents?q=a&client=b", "/agents?q=a&client=b"},
		{"/agents/0190-x", "/agents/0190-x"},
		{"//evil.example", "/"},
		{`/\evil.example`, "/"},
		{`/a\b`, "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil", "/"},
		{"https://evil.example", "/"},
		{"evil", "/"},
		{"javascript:alert(1)", "/"},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) got %q, want %q", tc.in, got, tc.want)
		}
	}
}
