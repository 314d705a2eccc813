package web

import (
	"testing"

	"github.com/steward-rmm/steward/internal/policy"
)

func TestPolicyValueMachineKinds(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{"", "none"},
		{"Acme IT", "Acme IT"},
		{[]policy.WatchedService{}, "none"},
		{[]policy.Link{}, "none"},
		{[]policy.WatchedService{{Name: "Spooler", Restart: true, Alert: true}, {Name: "nginx"}}, "Spooler (restarted, alerts); nginx (checked only)"},
		{[]policy.Link{{Title: "Portal", URL: "https://p.example"}, {Title: "Call", URL: "tel:+1555"}}, "Portal: https://p.example; Call: tel:+1555"},
	} {
		if got := policyValue("x", tt.v, nil); got != tt.want {
			t.Errorf("policyValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
