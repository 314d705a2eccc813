package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
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
		// The watchdog cannot tell these from an agent that does not
		// serve it: a user holding every slot, or an impostor that took
		// the endpoint, must not keep a dead agent looking well.
		{"forbidden", ipc.Errorf(ipc.CodeForbidden, "not root"), true},
		{"busy", ipc.Errorf(ipc.CodeBusy, "full"), true},
		{"unknown method", ipc.Errorf(ipc.CodeUnknownMethod, "no health"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := testIPCEndpoint(t)
			serveOnly(t, endpoint, ipc.MethodHealth, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
				if tt.answer != nil {
					return nil, tt.answer
				}
				return ipc.HealthReply{}, nil
			})
			cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer ccancel()
			err := ipcHealth{endpoint: endpoint}.Health(cctx)
			if (err != nil) != tt.miss {
				t.Errorf("Health got %v, want miss=%v", err, tt.miss)
			}
		})
	}
	// A server of another account (an impostor that took the endpoint)
	// is a miss even when it answers "well".
	t.Run("impostor", func(t *testing.T) {
		endpoint := testIPCEndpoint(t)
		serveOnly(t, endpoint, ipc.MethodHealth, func(context.Context, ipc.Caller, json.RawMessage) (any, error) {
			return ipc.HealthReply{}, nil
		})
		me, err := ipc.CurrentOwner()
		if err != nil {
			t.Fatal(err)
		}
		other := ipc.LocalSystemSID
		if me.SID == other {
			other = "S-1-5-19"
		}
		if me.SID == "" {
			other = strconv.Itoa(me.UID + 1)
		}
		t.Setenv(ipcOwnerEnv, other)
		cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer ccancel()
		if err := (ipcHealth{endpoint: endpoint}).Health(cctx); !errors.Is(err, ipc.ErrImpostor) {
			t.Errorf("Health against a server of another account got %v, want ErrImpostor", err)
		}
	})
	// Nobody listening is a miss.
	cctx, ccancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer ccancel()
	if err := (ipcHealth{endpoint: testIPCEndpoint(t)}).Health(cctx); err == nil {
		t.Error("Health with no agent got nil, want a miss")
	}
}

// TestWatchdogOwner: the watchdog expects the agent under its own account
// unless told otherwise.
func TestWatchdogOwner(t *testing.T) {
	t.Setenv(ipcOwnerEnv, "")
	me, err := ipc.CurrentOwner()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := watchdogOwner(); err != nil || got != me {
		t.Errorf("watchdogOwner() got %+v, %v; want %+v", got, err, me)
	}
	t.Setenv(ipcOwnerEnv, "S-1-5-19")
	if got, err := watchdogOwner(); err != nil || got.SID != "S-1-5-19" {
		t.Errorf("watchdogOwner() with %s set got %+v, %v; want S-1-5-19", ipcOwnerEnv, got, err)
	}
}
