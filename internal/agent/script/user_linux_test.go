package script

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestActiveSessionUID(t *testing.T) {
	tests := []struct {
		name     string
		sessions map[string]string
		want     uint32
		wantErr  error
	}{
		{"graphical first", map[string]string{
			"1": "UID=1001\nUSER=tty\nACTIVE=1\nSTATE=active\nTYPE=tty\nCLASS=user\nSEAT=seat0\n",
			"2": "UID=1000\nUSER=alice\nACTIVE=1\nSTATE=active\nTYPE=wayland\nCLASS=user\nSEAT=seat0\n",
		}, 1000, nil},
		{"console session", map[string]string{
			"c1": "UID=1002\nACTIVE=1\nTYPE=tty\nCLASS=user\nSEAT=seat0\n",
		}, 1002, nil},
		{"ssh, greeter, inactive and closing do not count", map[string]string{
			"3": "UID=1000\nACTIVE=1\nTYPE=tty\nCLASS=user\n",
			"4": "UID=115\nACTIVE=1\nTYPE=x11\nCLASS=greeter\nSEAT=seat0\n",
			"5": "UID=1003\nACTIVE=0\nTYPE=x11\nCLASS=user\nSEAT=seat0\n",
			"6": "UID=1004\nACTIVE=1\nSTATE=closing\nTYPE=x11\nCLASS=user\nSEAT=seat0\n",
		}, 0, ErrNoUser},
		{"no sessions", nil, 0, ErrNoUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.sessions {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := activeSessionUID(dir)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("activeSessionUID got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := activeSessionUID(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNoUser) {
		t.Errorf("without logind got %v, want ErrNoUser", err)
	}
}
