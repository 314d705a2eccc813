package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestWatchdogCommandErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "agent.json")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not enrolled", []string{"watchdog", "--supervise", "--config", missing}, exitFail, "not enrolled"},
		{"not enrolled, mode chosen", []string{"watchdog", "--config", missing}, exitFail, "not enrolled"},
		{"extra argument", []string{"watchdog", "now"}, exitUsage, `unexpected argument "now"`},
		{"help", []string{"watchdog", "-h"}, exitOK, "Supervisor mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Run(t.Context(), tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("Run(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("Run(%q) stderr %q, want it to contain %q", tt.args, stderr.String(), tt.want)
			}
		})
	}
}
