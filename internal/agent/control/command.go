package control

import (
	"context"
	"encoding/json"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// command takes a command from the server. A command is run once (see
// ledger): its result goes to the ledger, from which the session sends
// it; commands that take time run elsewhere and finish there. now, when
// ok, is a result to send at once: for a command that does not decode, or
// the result of one offered again. send writes on the connection the
// command came on (CommandScriptOutput answers on it).
func (c *Client) command(ctx context.Context, data json.RawMessage, send func(typ string, payload any) error) (now protocol.Result, ok bool) {
	cmd, err := protocol.DecodeCommand(data)
	if err != nil {
		var partial struct {
			CommandID string `json:"command_id"`
		}
		json.Unmarshal(data, &partial)
		return protocol.Result{CommandID: partial.CommandID, Status: protocol.ResultError, Error: err.Error()}, true
	}
	if res, seen := c.ledger.take(cmd, time.Now()); seen {
		if res == nil {
			c.opts.Log.DebugContext(ctx, "command offered again while it runs", "command_id", cmd.CommandID, "name", cmd.Name)
			return protocol.Result{}, false
		}
		c.opts.Log.InfoContext(ctx, "command offered again; sending its result again", "command_id", cmd.CommandID, "name", cmd.Name)
		return *res, true
	}
	switch cmd.Name {
	case protocol.CommandPing:
		out, _ := json.Marshal(protocol.PingOutput{AgentTime: time.Now().UTC()})
		c.finish(protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out})
		return protocol.Result{}, false
	case protocol.CommandUpdate:
		c.finish(c.offerUpdate(ctx, cmd))
		return protocol.Result{}, false
	case protocol.CommandInventory:
		if c.inv != nil {
			if res, queued := c.inv.command(cmd); !queued {
				c.finish(res)
			}
			return protocol.Result{}, false
		}
	case protocol.CommandScript:
		if c.scripts != nil {
			if res, queued := c.scripts.start(cmd); !queued {
				c.finish(res)
			}
			return protocol.Result{}, false
		}
	case protocol.CommandScriptKill:
		if c.scripts != nil {
			c.finish(c.scripts.kill(cmd))
			return protocol.Result{}, false
		}
	case protocol.CommandSessionOpen:
		if c.opts.Sessions != nil {
			c.finish(c.openSession(cmd))
			return protocol.Result{}, false
		}
	case protocol.CommandScriptOutput:
		if c.scripts != nil {
			c.finish(c.scripts.output(cmd, send))
			return protocol.Result{}, false
		}
	}
	if c.actions != nil && c.actions.handles(cmd) {
		if res, queued := c.actions.start(cmd); !queued {
			c.finish(res)
		}
		return protocol.Result{}, false
	}
	c.finish(protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultUnsupported,
		Error: "this agent version does not support the command " + cmd.Name})
	return protocol.Result{}, false
}

// finish records a command's result for the session to send.
func (c *Client) finish(res protocol.Result) { c.ledger.finish(res, time.Now()) }

// sendResults sends the results waiting in the ledger, after the live
// script messages waiting: a run's output is pushed before its result is
// finished, so the server gets the output before the result.
func (c *Client) sendResults(send func(typ string, payload any) error) error {
	if err := c.live.send(send); err != nil {
		return err
	}
	for _, res := range c.ledger.unsent() {
		if err := send(protocol.TypeResult, res); err != nil {
			return err
		}
		c.ledger.sent(res.CommandID)
	}
	return nil
}
