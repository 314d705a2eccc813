package main

import "testing"

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		pkg, msi string
	}{
		{"v1.4.0", "1.4.0", "1.4.0"},
		{"1.4.0", "1.4.0", "1.4.0"},
		{"v1.4.0-rc.1", "1.4.0~rc.1", "1.4.0"},
		{"v1.4.0-3-gabc1234", "1.4.0+3.gabc1234", "1.4.0"},
		{"v1.4.0-3-gabc1234-dirty", "1.4.0+3.gabc1234.dirty", "1.4.0"},
		{"v2.0.0-beta_2", "2.0.0~beta.2", "2.0.0"},
		{"482bceb", "0.0.0~dev.482bceb", "0.0.0"},
		{"482bceb-dirty", "0.0.0~dev.482bceb.dirty", "0.0.0"},
		{"dev", "0.0.0~dev.dev", "0.0.0"},
		{"v255.255.65535", "255.255.65535", "255.255.65535"},
	} {
		got, err := parseVersion(tc.in)
		if err != nil {
			t.Errorf("parseVersion(%q): %v", tc.in, err)
			continue
		}
		if got.Pkg != tc.pkg || got.MSI != tc.msi || got.Full != tc.in {
			t.Errorf("parseVersion(%q) got %+v, want Pkg %q MSI %q", tc.in, got, tc.pkg, tc.msi)
		}
	}
	for _, bad := range []string{"", "  ", "v256.0.0", "v1.256.0", "v1.0.65536"} {
		if got, err := parseVersion(bad); err == nil {
			t.Errorf("parseVersion(%q) got %+v, want an error", bad, got)
		}
	}
}
