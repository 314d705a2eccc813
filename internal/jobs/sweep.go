package jobs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of the output sweep.
const (
	// sweepBatch bounds the runs one sweep checks.
	sweepBatch = 5000
	// askAgain spaces two requests for a run's missing output.
	askAgain = time.Minute
	// giveUpAfter stops asking for a run's output this long after it
	// finished: the agent keeps a run's output only so long.
	giveUpAfter = time.Hour
)

// SweepOutput is the singleton job that makes runs' output complete: for
// each finished run not yet known complete, it compares the bytes stored
// with those the agent's result says it kept, marks the run complete when
// they match, and otherwise asks the agent for the rest (once a minute,
// for an hour). Pieces sent live are lost when the connection or the
// server goes down mid-run; the result is not (the agent's ledger keeps
// it), so this is what makes a server restart lose no output.
func (s *Service) SweepOutput(ctx context.Context) error {
	runs, err := s.db.RunsToCheck(ctx, sweepBatch)
	if err != nil {
		return err
	}
	now := time.Now()
	var (
		complete, asked []string
		completeJobs    []string
		prepared        []command.Prepared
	)
	for _, r := range runs {
		var res protocol.ScriptResult
		if r.State != store.CommandDone || json.Unmarshal(r.Output, &res) != nil {
			complete = append(complete, r.CommandID) // no output to expect
			continue
		}
		missing := map[string]int64{}
		for _, st := range []struct {
			name         string
			stored, want int64
		}{{protocol.StreamStdout, r.StdoutStored, res.Stdout.Bytes}, {protocol.StreamStderr, r.StderrStored, res.Stderr.Bytes}} {
			if st.stored == st.want {
				continue
			}
			// Pieces sent again may overlap; only the contiguous prefix
			// says what is there.
			at, err := s.db.OutputGap(ctx, r.CommandID, st.name)
			if err != nil {
				return err
			}
			if at < st.want {
				missing[st.name] = at
			}
		}
		switch {
		case len(missing) == 0:
			complete = append(complete, r.CommandID)
		case now.Sub(r.FinishedAt) > giveUpAfter:
			s.log.Warn("gave up on the missing output of a script run", "command_id", r.CommandID, "agent_id", r.AgentID, "missing_from", missing)
			complete = append(complete, r.CommandID)
		case now.Sub(r.OutputAskedAt) >= askAgain:
			for stream, from := range missing {
				args, _ := json.Marshal(protocol.ScriptOutputRequest{CommandID: r.CommandID, Stream: stream, Offset: from})
				prepared = append(prepared, command.Prepared{AgentID: r.AgentID, Args: args})
			}
			asked = append(asked, r.CommandID)
		}
	}
	if err := s.db.MarkOutputComplete(ctx, complete); err != nil {
		return err
	}
	done := make(map[string]bool, len(complete))
	for _, id := range complete {
		done[id] = true
	}
	for _, r := range runs {
		if done[r.CommandID] {
			completeJobs = append(completeJobs, r.JobID)
		}
	}
	s.changed(ctx, completeJobs)
	if len(prepared) == 0 {
		return nil
	}
	p := access.Console()
	_, err = s.cmds.CreatePrepared(ctx, p, access.RunScripts, protocol.CommandScriptOutput, "missing script output", 10*time.Minute, prepared,
		func(*store.Tx, store.CommandBatch, []store.Command) error { return nil })
	if err != nil {
		return err
	}
	s.log.Info("asked agents again for script output lost on the way", "runs", len(asked))
	return s.db.MarkOutputAsked(ctx, asked, now)
}
