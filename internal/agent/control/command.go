package control

import (
	"encoding/json"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// command answers a command from the server. Commands that take time run
// elsewhere: queued is then true and the result comes later through
// results, unless the session has ended (done closed) by then.
func (c *Client) command(data json.RawMessage, results chan<- protocol.Result, done <-chan struct{}) (res protocol.Result, queued bool) {
	cmd, err := protocol.DecodeCommand(data)
	if err != nil {
		var partial struct {
			CommandID string `json:"command_id"`
		}
		json.Unmarshal(data, &partial)
		return protocol.Result{CommandID: partial.CommandID, Status: protocol.ResultError, Error: err.Error()}, false
	}
	switch cmd.Name {
	case protocol.CommandPing:
		out, _ := json.Marshal(protocol.PingOutput{AgentTime: time.Now().UTC()})
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out}, false
	case protocol.CommandInventory:
		if c.inv != nil {
			return c.inv.command(cmd, results, done)
		}
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultUnsupported,
		Error: "this agent version does not support the command " + cmd.Name}, false
}
