package sim

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSourceAddrs(t *testing.T) {
	tests := []struct {
		in        string
		wantTotal uint64
		wantFirst []string // the first addresses pick hands out
		wantErr   string
	}{
		{in: "127.0.0.2", wantTotal: 1, wantFirst: []string{"127.0.0.2", "127.0.0.2"}},
		{in: "127.0.0.1-127.0.0.200", wantTotal: 200, wantFirst: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{in: "127.0.0.254-127.0.1.1", wantTotal: 4, wantFirst: []string{"127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1", "127.0.0.254"}},
		{in: "127.0.0.0/30", wantTotal: 2, wantFirst: []string{"127.0.0.1", "127.0.0.2", "127.0.0.1"}},
		{in: "127.0.0.8/31", wantTotal: 2, wantFirst: []string{"127.0.0.8", "127.0.0.9"}},
		{in: "127.0.0.5/24", wantTotal: 254, wantFirst: []string{"127.0.0.1", "127.0.0.2"}},
		{in: "127.0.0.0/8", wantTotal: 1<<24 - 2, wantFirst: []string{"127.0.0.1"}},
		{in: " 127.0.0.2 , 127.0.0.10-127.0.0.11,::1", wantTotal: 4, wantFirst: []string{"127.0.0.2", "127.0.0.10", "127.0.0.11", "::1", "127.0.0.2"}},

		{in: "127.0.0.3-127.0.0.2", wantErr: "ends before it starts"},
		{in: "127.0.0.1-::1", wantErr: "only IPv4"},
		{in: "::1/128", wantErr: "only IPv4"},
		{in: "10.0.0.0/7", wantErr: "larger than /8"},
		{in: "127.0.0.0/8,10.0.0.0/8", wantErr: "more than"},
		{in: "localhost", wantErr: "localhost"},
		{in: "127.0.0.1,", wantErr: "empty item"},
		{in: "127.0.0.1-", wantErr: "127.0.0.1-"},
		{in: "127.0.0.1/33", wantErr: "127.0.0.1/33"},
	}
	for _, tt := range tests {
		p, err := parseSourceAddrs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSourceAddrs(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSourceAddrs(%q): %v", tt.in, err)
			continue
		}
		if p.total != tt.wantTotal {
			t.Errorf("parseSourceAddrs(%q) holds %d addresses, want %d", tt.in, p.total, tt.wantTotal)
		}
		for i, want := range tt.wantFirst {
			if got := p.pick(); got != netip.MustParseAddr(want) {
				t.Errorf("parseSourceAddrs(%q) pick #%d = %s, want %s", tt.in, i, got, want)
			}
		}
	}
	if p, err := parseSourceAddrs("  "); p != nil || err != nil {
		t.Errorf("parseSourceAddrs(blank) = %v, %v; want no pool", p, err)
	}
}
