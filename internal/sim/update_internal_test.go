package sim

import (
	"fmt"
	"testing"
)

func TestUpdateFails(t *testing.T) {
	u := UpdateConfig{FailRate: 0.25, FailVersions: []string{"2.0.0"}}
	failed := 0
	for i := range 4000 {
		id := fmt.Sprintf("agent-%d", i)
		if u.fails(id, "1.1.0") {
			failed++
		}
		if u.fails(id, "1.1.0") != u.fails(id, "1.1.0") {
			t.Fatalf("fails(%s) changes between calls", id)
		}
		if !u.fails(id, "2.0.0") {
			t.Fatalf("fails(%s, 2.0.0) = false, want true for a failing version", id)
		}
	}
	if failed < 900 || failed > 1100 {
		t.Errorf("%d of 4000 agents fail at a rate of 0.25, want about 1000", failed)
	}
	if (UpdateConfig{}).fails("a", "1.1.0") {
		t.Error("the zero UpdateConfig fails an update")
	}
}

func TestUpdateConfigValidate(t *testing.T) {
	for _, u := range []UpdateConfig{{TimeScale: -1}, {TimeScale: 2}, {FailRate: 1.5}, {FailVersions: []string{"v1"}}} {
		if err := u.validate(); err == nil {
			t.Errorf("validate(%+v) = nil, want an error", u)
		}
	}
	if err := (UpdateConfig{TimeScale: 0.5, FailRate: 0.1, FailVersions: []string{"1.2.0"}}).validate(); err != nil {
		t.Errorf("validate of a good config: %v", err)
	}
	if _, err := platformIndex("plan9/amd64"); err == nil {
		t.Error("platformIndex(plan9/amd64) = nil error")
	}
}
