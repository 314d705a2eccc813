package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"

	"github.com/steward-rmm/steward/internal/agent"

	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/agent/tray"
)

// ipcTrayAgent is the tray's way to the agent service: the local IPC
// channel, one connection per call, so that an agent restart or an idle
// close never leaves the tray holding a dead connection.
type ipcTrayAgent struct{ endpoint string }

var _ tray.Agent = ipcTrayAgent{}

func (a ipcTrayAgent) call(ctx context.Context, method string, req, resp any) error {
	c, err := dialLocal(ctx, a.endpoint)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctx, method, req, resp)
}

func (a ipcTrayAgent) Status(ctx context.Context) (tray.Status, error) {
	var st ipc.StatusReply
	if err := a.call(ctx, ipc.MethodStatus, nil, &st); err != nil {
		return tray.Status{}, err
	}
	out := tray.Status{Connected: st.Connected, AgentID: st.AgentID, Hostname: st.Hostname,
		IPs: st.IPAddresses, Version: st.Version, AgentPID: st.PID}
	if p := st.Power; p != nil {
		out.Power = tray.PowerNotice{Action: p.Action, At: p.At, Message: p.Message, By: p.By}
	}
	return out, nil
}

func (a ipcTrayAgent) TrayConfig(ctx context.Context) (json.RawMessage, error) {
	var r ipc.TrayConfigReply
	if err := a.call(ctx, ipc.MethodTrayConfig, nil, &r); err != nil {
		return nil, err
	}
	return r.Tray, nil
}

func (a ipcTrayAgent) Hello(ctx context.Context) error {
	args := ipc.TrayHelloArgs{Version: strings.TrimPrefix(agent.Version, "v"), Session: tray.Session(), PID: os.Getpid()}
	err := a.call(ctx, ipc.MethodTrayHello, args, nil)
	if errors.Is(err, ipc.ErrUnknownMethod) {
		return nil // an agent older than tray_hello: nothing to tell it
	}
	return err
}

func (a ipcTrayAgent) HelpRequest(ctx context.Context, message string) (string, error) {
	var r ipc.HelpRequestReply
	if err := a.call(ctx, ipc.MethodHelpRequest, ipc.HelpRequestArgs{Message: message}, &r); err != nil {
		var re *ipc.RemoteError
		if errors.As(err, &re) && re.Code == ipc.CodeRateLimited && re.Message != "" {
			// The page shows the error to the user: the agent's words
			// (when to try again), not the code.
			return "", userError{re}
		}
		return "", err
	}
	return r.ID, nil
}

// userError shows only the message of the agent's answer; errors.Is and
// errors.As still see the answer.
type userError struct{ re *ipc.RemoteError }

func (e userError) Error() string { return e.re.Message }
func (e userError) Unwrap() error { return e.re }
