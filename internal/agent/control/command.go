package control

import (
	"encoding/json"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// runCommand answers a command from the server. Commands that take time
// will run on their own goroutines once they exist; ping answers at once.
func runCommand(data json.RawMessage) protocol.Result {
	cmd, err := protocol.DecodeCommand(data)
	if err != nil {
		var partial struct {
			CommandID string `json:"command_id"`
		}
		json.Unmarshal(data, &partial)
		return protocol.Result{CommandID: partial.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	switch cmd.Name {
	case protocol.CommandPing:
		out, _ := json.Marshal(protocol.PingOutput{AgentTime: time.Now().UTC()})
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out}
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultUnsupported,
		Error: "this agent version does not support the command " + cmd.Name}
}
