package service

import (
	"os"
	"testing"
)

// TestMain lets the test binary play a service: on Windows the SCM tests
// register it with `run --config PATH` and it answers as the agent would
// (see helperMain in scm_windows_test.go).
func TestMain(m *testing.M) {
	if code, ok := helperMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
