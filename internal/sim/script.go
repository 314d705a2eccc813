package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// runScript "runs" a script as a real agent reports one, without running
// anything: its output is its arguments, one per line, and it succeeds.
// As the agent does for a run that ends at once, output that fits goes
// inline in the result; more is streamed after a start message. A run
// that is not valid is answered with an error, as the agent does.
func (s *Sim) runScript(sess *session, cmd protocol.Command) (protocol.Result, error) {
	run, err := protocol.DecodeScriptRun(cmd.Args)
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}, nil
	}
	start := time.Now().UTC()
	if !run.StartBy.IsZero() && start.After(run.StartBy) {
		out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptExpired, FinishedAt: start,
			Error: "not started before " + run.StartBy.Format(time.RFC3339)})
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out}, nil
	}
	text := strings.Join(run.Args, "\n")
	if len(run.Args) > 0 {
		text += "\n"
	}
	out := []byte(text)
	if cap := run.OutputCap(); int64(len(out)) > cap {
		out = out[:cap]
	}
	stdout := protocol.ScriptStream{Bytes: int64(len(out)), Truncated: len(out) < len(text)}
	if len(out) <= protocol.MaxInlineOutput {
		s.c.scripts.Add(1)
		stdout.Data = out
		res, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptSucceeded, StartedAt: start, FinishedAt: time.Now().UTC(),
			Stdout: stdout, Inline: true})
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: res}, nil
	}
	if err := s.write(sess, protocol.TypeScriptStarted, sess.seq.Add(1), protocol.ScriptStarted{CommandID: cmd.CommandID, StartedAt: start}); err != nil {
		return protocol.Result{}, fmt.Errorf("send script start: %w", err)
	}
	for pos := 0; pos < len(out); pos += protocol.MaxScriptChunk {
		piece := out[pos:min(pos+protocol.MaxScriptChunk, len(out))]
		if err := s.write(sess, protocol.TypeScriptOutput, sess.seq.Add(1),
			protocol.ScriptOutput{CommandID: cmd.CommandID, Stream: protocol.StreamStdout, Offset: int64(pos), Data: piece}); err != nil {
			return protocol.Result{}, fmt.Errorf("send script output: %w", err)
		}
	}
	s.c.scripts.Add(1)
	res, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptSucceeded, StartedAt: start, FinishedAt: time.Now().UTC(),
		Stdout: stdout})
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: res}, nil
}
