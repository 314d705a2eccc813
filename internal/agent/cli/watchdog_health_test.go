package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/ipc"
)

// TestWatchdogHealth: what the watchdog counts as a miss.
func TestWatchdogHealth(t *testing.T) {
	tests := []struct {
		name   string
		answer error // what the agent's health handler returns
		miss   bool
	}{
		{"well", nil, false},
		{"hung", ipc.Errorf(ipc.CodeUnhealthy, "the control loop last proved alive 2m ago"), true},
		{"handler timed out", ipc.Errorf(ipc.CodeTimeout, "slow"), true},
		{"forbidden: alive, a restart would not help", ipc.Errorf(ipc.CodeForbidden, "not root"), false},
		{"busy: alive", ipc.Errorf(ipc.CodeBusy, "full"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := testIPCEndpoint(t)
			srv := ipc.NewServer(endpoint, slog.New(slog.DiscardHandler))
			srv.Handle(ipc.MethodHealth, ipc.RoleUser, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
				if tt.answer != nil {
					return nil, tt.answer
				}
				return ipc.HealthReply{}, nil
			})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx) }()
			defer func() {
				cancel()
				<-done
			}()
			<-srv.Ready()
			cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer ccancel()
			err := ipcHealth{endpoint: endpoint}.Health(cctx)
			if (err != nil) != tt.miss {
				t.Errorf("Health got %v, want miss=%v", err, tt.miss)
			}
		})
	}
	// Nobody listening is a miss.
	cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer ccancel()
	if err := (ipcHealth{endpoint: testIPCEndpoint(t)}).Health(cctx); err == nil {
		t.Error("Health with no agent got nil, want a miss")
	}
}
