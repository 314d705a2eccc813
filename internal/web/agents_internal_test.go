package web

import (
	"net/url"
	"testing"
)

// Choosing exactly the default columns gives the clean URL.
func TestAgentQueryDefaultColumnsURL(t *testing.T) {
	if got := parseAgentQuery(url.Values{"col": defaultColumns()}).url(); got != "/agents" {
		t.Errorf("default columns URL %q, want /agents", got)
	}
}

// A cell a spreadsheet would run as a formula is quoted.
func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(1)": "'=HYPERLINK(1)", "web-01": "web-01"} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
