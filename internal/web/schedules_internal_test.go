package web

import (
	"testing"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

func TestSchedulesForPeople(t *testing.T) {
	for _, tc := range []struct {
		v    []policy.ScheduledScript
		want string
	}{
		{nil, "none"},
		{[]policy.ScheduledScript{{Name: "nightly", When: "daily 02:30", Enabled: true}, {Name: "q", When: "every 15m"}},
			"nightly: daily 02:30; q: every 15m (disabled)"},
	} {
		if got := policyValue("scripts.schedules", tc.v, nil); got != tc.want {
			t.Errorf("policyValue(%+v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for createdBy, want := range map[string]string{"schedule nightly": "nightly", "alice@example.com": "", "schedule": ""} {
		if got := scheduleOfJob(store.Job{CreatedBy: createdBy}); got != want {
			t.Errorf("scheduleOfJob(created by %q) = %q, want %q", createdBy, got, want)
		}
	}
}
