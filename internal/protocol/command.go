package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Command messages: the server asks an agent to do something and the agent
// answers with a result carrying the same command ID.
const (
	TypeCommand = "command" // server → agent: Command
	TypeResult  = "result"  // agent → server: Result
)

// Command names.
const (
	// CommandPing asks the agent to answer at once; output is PingOutput.
	CommandPing = "ping"
)

// Result statuses.
const (
	ResultOK          = "ok"
	ResultError       = "error"
	ResultUnsupported = "unsupported" // the agent does not know the command
)

// MaxOutputBytes bounds a result's output, leaving room for the envelope.
const MaxOutputBytes = MaxMessageBytes - 4<<10

// Command is a request from the server to an agent.
type Command struct {
	CommandID string          `json:"command_id"`
	Name      string          `json:"name"`
	Args      json.RawMessage `json:"args,omitempty"`
	// Deadline is when the server stops waiting for the result.
	Deadline time.Time `json:"deadline,omitzero"`
}

// Result is an agent's answer to a Command.
type Result struct {
	CommandID string          `json:"command_id"`
	Status    string          `json:"status"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// PingOutput is the output of a ping.
type PingOutput struct {
	AgentTime time.Time `json:"agent_time"`
}

// DecodeCommand parses a command from the server.
func DecodeCommand(data json.RawMessage) (Command, error) {
	var c Command
	if err := strictUnmarshal(data, &c); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if c.CommandID == "" || c.Name == "" {
		return Command{}, errors.New("decode command: command_id and name are required")
	}
	if err := checkToken("command_id", c.CommandID, maxIDLen); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if err := checkToken("name", c.Name, maxTypeLen); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	return c, nil
}

// DecodeResult parses and validates an agent's result.
func DecodeResult(data json.RawMessage) (Result, error) {
	var r Result
	if len(data) == 0 {
		return r, errors.New("decode result: missing data")
	}
	if err := strictUnmarshal(data, &r); err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	if r.CommandID == "" {
		return Result{}, errors.New("decode result: command_id is required")
	}
	if err := checkToken("command_id", r.CommandID, maxIDLen); err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	switch r.Status {
	case ResultOK, ResultError, ResultUnsupported:
	default:
		return Result{}, fmt.Errorf("decode result: status must be ok, error or unsupported, got %q", truncate(r.Status))
	}
	if len(r.Output) > MaxOutputBytes {
		return Result{}, fmt.Errorf("decode result: output is %d bytes, limit %d", len(r.Output), MaxOutputBytes)
	}
	if len(r.Error) > 4096 {
		return Result{}, fmt.Errorf("decode result: error is %d bytes, limit 4096", len(r.Error))
	}
	if len(r.Output) > 0 && !json.Valid(r.Output) {
		return Result{}, errors.New("decode result: output is not valid JSON")
	}
	return r, nil
}
