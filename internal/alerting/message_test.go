package alerting

import (
	"testing"
	"time"
)

func TestMessage(t *testing.T) {
	for _, tt := range []struct {
		rule  Rule
		value float64
		want  string
	}{
		{Rule{Name: "cpu", Above: true, Trigger: 90, For: 5 * time.Minute}, 93.4, "CPU above 90 % for 5 minutes (now 93 %)"},
		{Rule{Name: "memory", Above: true, Trigger: 92.5, For: 90 * time.Second}, 95, "Memory above 92.5 % for 90 seconds (now 95 %)"},
		{Rule{Name: "disk:/var", Above: true, Trigger: 85, For: time.Hour}, 91, "Disk usage on /var above 85 % for 1 hour (now 91 %)"},
		{Rule{Name: "disk_free:/", Above: false, Trigger: 10 << 30, For: 0}, 5 << 29, "Free space on / below 10 GB (now 2.5 GB)"},
	} {
		if got := message(Transition{Rule: tt.rule, Value: tt.value}); got != tt.want {
			t.Errorf("message(%s) got %q, want %q", tt.rule.Name, got, tt.want)
		}
	}
}
