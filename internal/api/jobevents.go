package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of a job's event stream.
const (
	// jobEventGap is the least time between two rounds of events.
	jobEventGap = 250 * time.Millisecond
	// jobEventPoll re-reads the job without a signal: a change made on
	// another replica whose bus message was lost still shows.
	jobEventPoll = 5 * time.Second
	// jobEventChunk bounds the output one event carries.
	jobEventChunk = 32 << 10
	// jobEventPing keeps proxies from closing an idle stream.
	jobEventPing = 25 * time.Second
)

// outputEvent is a piece of a run's output, as text shown safely (see
// jobs.Text); pos is the byte offset in the stream.
type outputEvent struct {
	Stream string `json:"stream"`
	Pos    int64  `json:"pos"`
	Text   string `json:"text"`
}

// jobEvents streams a job as server-sent events: "progress" (its run
// counts) whenever they change, and with ?agent_id= that agent's "run"
// (its status) and "output" (its output as it arrives, from the start).
// It ends with "end" once the job (or the agent's run) is finished and
// its output is all there.
func (a *API) jobEvents(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	job, err := a.cfg.DB.GetJob(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	agentID := r.URL.Query().Get("agent_id")
	if agentID != "" {
		if _, err := a.cfg.DB.JobRunOf(ctx, job.ID, agentID); err != nil {
			return err
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("job events: the response cannot stream")
	}
	changed, stop, err := a.cfg.Jobs.Watch(job.ID)
	if err != nil {
		return err
	}
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event string, v any) error {
		b, _ := json.Marshal(v)
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	var (
		lastProgress, lastRun string
		offsets               = map[string]int64{protocol.StreamStdout: 0, protocol.StreamStderr: 0}
		poll                  = time.NewTicker(jobEventPoll)
		ping                  = time.NewTicker(jobEventPing)
	)
	defer poll.Stop()
	defer ping.Stop()
	for {
		ended := false
		prog, err := a.cfg.Jobs.Progress(ctx, job)
		if err != nil {
			return streamEnded(a, r, err)
		}
		if b, _ := json.Marshal(prog); string(b) != lastProgress {
			lastProgress = string(b)
			if send("progress", prog) != nil {
				return nil
			}
		}
		if agentID == "" {
			ended = prog.Finished == prog.Total
		} else {
			run, err := a.cfg.DB.JobRunOf(ctx, job.ID, agentID)
			if err != nil {
				return streamEnded(a, r, err)
			}
			for _, stream := range []string{protocol.StreamStdout, protocol.StreamStderr} {
				for {
					b, err := a.cfg.DB.JobOutput(ctx, run.CommandID, stream, offsets[stream], jobEventChunk)
					if err != nil {
						return streamEnded(a, r, err)
					}
					if len(b) == 0 {
						break
					}
					if send("output", outputEvent{Stream: stream, Pos: offsets[stream], Text: jobs.Text(b)}) != nil {
						return nil
					}
					offsets[stream] += int64(len(b))
				}
			}
			v := jobs.View(run, job, time.Now())
			if b, _ := json.Marshal(v); string(b) != lastRun {
				lastRun = string(b)
				if send("run", v) != nil {
					return nil
				}
			}
			ended = v.Finished() && (run.OutputComplete || run.State != store.CommandDone)
		}
		if ended {
			send("end", map[string]string{"job_id": job.ID})
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-poll.C:
		case <-ping.C:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
			continue
		}
		// Let a burst of output pieces land before reading them.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(jobEventGap):
		}
	}
}

// streamEnded logs why an open event stream stops on an error: the
// response has started, so the error cannot be answered; the browser's
// EventSource reconnects.
func streamEnded(a *API, r *http.Request, err error) error {
	if r.Context().Err() == nil {
		a.cfg.Log.Warn("job event stream ended", "path", r.URL.Path, "err", err)
	}
	return nil
}
