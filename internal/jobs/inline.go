package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// The service stands in front of the command service for agents' answers,
// to take the output a quick script run carries in its result.
var _ hub.CommandHandler = (*Service)(nil)

// inlineRun is what a result with its output inline stands for: the start
// and output messages the agent did not send.
type inlineRun struct {
	start  store.RunStart
	pieces []store.OutputPiece
}

// Connected passes an agent's open commands to the command service.
func (s *Service) Connected(ctx context.Context, c *hub.Conn, queued []store.Command) {
	s.cmds.Connected(ctx, c, queued)
}

// Result passes an agent's answer to the command service. A script run's
// result with its output inline has the run's start and output stored
// first, as the messages it replaces would have been, and goes on without
// the output.
func (s *Service) Result(ctx context.Context, agentID string, r protocol.Result) {
	// Most answers are not inline script results: skip decoding them.
	if r.Status == protocol.ResultOK && bytes.Contains(r.Output, []byte(`"inline":true`)) {
		r = s.takeInline(ctx, agentID, r)
	}
	s.cmds.Result(ctx, agentID, r)
}

func (s *Service) takeInline(ctx context.Context, agentID string, r protocol.Result) protocol.Result {
	res, err := protocol.DecodeScriptResult(r.Output)
	if err != nil || !res.Inline {
		return r
	}
	// The server's clock, as for a start message, less the run's time.
	ran := max(res.FinishedAt.Sub(res.StartedAt), 0)
	run := inlineRun{start: store.RunStart{CommandID: r.CommandID, AgentID: agentID, At: time.Now().Add(-ran)}}
	for _, st := range []struct {
		name string
		data []byte
	}{{protocol.StreamStdout, res.Stdout.Data}, {protocol.StreamStderr, res.Stderr.Data}} {
		if len(st.data) > 0 {
			run.pieces = append(run.pieces, store.OutputPiece{CommandID: r.CommandID, AgentID: agentID, Stream: st.name, Data: st.data})
		}
	}
	if err := s.inline.Do(ctx, run); err != nil {
		// The output sweep asks the agent for it again.
		s.log.Error("store a script run's inline output", "agent_id", agentID, "command_id", r.CommandID, "err", err)
	}
	res.Stdout.Data, res.Stderr.Data = nil, nil
	out, err := json.Marshal(res)
	if err != nil {
		return r
	}
	r.Output = out
	return r
}

// writeInline stores a batch of inline runs: their starts, then their
// output.
func (s *Service) writeInline(ctx context.Context, batch []inlineRun) []error {
	starts := make([]store.RunStart, len(batch))
	var pieces []store.OutputPiece
	for i, r := range batch {
		starts[i] = r.start
		pieces = append(pieces, r.pieces...)
	}
	jobs, err := s.db.MarkRunsStarted(ctx, starts)
	if err != nil {
		return repeat(err, len(batch))
	}
	more, refused, err := s.db.AddJobOutput(ctx, pieces)
	if refused > 0 {
		s.log.Warn("refused inline script output of another agent's run or past the run's cap", "pieces", refused)
	}
	s.changed(ctx, append(jobs, more...))
	return repeat(err, len(batch))
}
