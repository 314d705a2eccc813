// Package winetest lets the agent's Windows tests, which CI runs under wine
// (scripts/wine), skip the few checks wine cannot answer: WMI and SMBIOS
// reads, CPU time counters. Only test files import it; on real Windows
// nothing is skipped.
package winetest

import "testing"

// Skip skips t when it runs under wine, naming what wine cannot show.
func Skip(t testing.TB, what string) {
	t.Helper()
	if Detected() {
		t.Skipf("wine cannot show %s (scripts/wine/README.md); run on real Windows", what)
	}
}
