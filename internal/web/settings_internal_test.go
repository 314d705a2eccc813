package web

import "testing"

func TestPolicyValueOfChannels(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{"all"}, "all channels"},
		{[]string{}, "none"},
		{[]string{"id-1", "id-2"}, "Ops hook, deleted channel id-2"},
	} {
		if got := policyValue("notifications.routes.critical", tt.in, map[string]string{"id-1": "Ops hook"}); got != tt.want {
			t.Errorf("policyValue(%q) got %q, want %q", tt.in, got, tt.want)
		}
	}
}
