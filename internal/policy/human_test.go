package policy

import (
	"testing"
	"time"
)

func TestHumanUnits(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{400 * 24 * time.Hour, "400 days"}, {24 * time.Hour, "1 day"}, {12 * time.Hour, "12 hours"},
		{5 * time.Minute, "5 minutes"}, {30 * time.Second, "30 seconds"}, {90 * time.Minute, "90 minutes"},
		{25*time.Hour + 30*time.Second, "1 d 1 h 30 s"}, {0, "0 seconds"},
	} {
		if got := HumanDuration(tt.in); got != tt.want {
			t.Errorf("HumanDuration(%v) got %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{16 << 20, "16 MB"}, {64 << 10, "64 kB"}, {1 << 30, "1 GB"}, {1500, "1.5 kB"}, {512, "512 bytes"}, {1, "1 byte"},
		{5 << 30 / 2, "2.5 GB"},
	} {
		if got := HumanBytes(tt.in); got != tt.want {
			t.Errorf("HumanBytes(%d) got %q, want %q", tt.in, got, tt.want)
		}
	}
}
