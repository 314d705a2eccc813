package service

import (
	"os"
	"testing"
)

// A test process is not a service: neither check may say it is. (Its
// parent may be gone: under wine the test has none.)
func TestUnderSCMNotForATest(t *testing.T) {
	parent, err := parentImage(uint32(os.Getpid()))
	t.Logf("parent: %q, %v", parent, err)
	if err == nil && parent == "" {
		t.Error("parentImage found a parent without a name")
	}
	if underSCM() {
		t.Errorf("underSCM() = true for a test process whose parent is %s", parent)
	}
	if _, err := parentImage(0xfffffff0); err == nil {
		t.Error("parentImage of a process that does not exist: no error")
	}
}
