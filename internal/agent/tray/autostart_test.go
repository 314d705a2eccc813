package tray

import "testing"

// checkTwice runs op twice: the first run must change something, the
// second nothing (install and uninstall are idempotent).
func checkTwice(t *testing.T, name string, op func() (bool, error)) {
	t.Helper()
	for i, want := range []bool{true, false} {
		changed, err := op()
		if err != nil {
			t.Fatalf("%s %d: %v", name, i+1, err)
		}
		if changed != want {
			t.Errorf("%s %d: changed %v, want %v", name, i+1, changed, want)
		}
	}
}
