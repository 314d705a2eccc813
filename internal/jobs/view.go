package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Run statuses, as the API and the dashboard show them.
const (
	RunQueued    = "queued" // waiting for the agent, or delivered and not started
	RunRunning   = "running"
	RunSucceeded = protocol.ScriptSucceeded
	RunFailed    = protocol.ScriptFailed // a non-zero exit, or it could not start (Error says why)
	RunTimedOut  = protocol.ScriptTimedOut
	RunKilled    = protocol.ScriptKilled
	RunExpired   = protocol.ScriptExpired // the agent did not take it before the job expired
	RunCancelled = "cancelled"            // cancelled before it was delivered
)

// Statuses lists run statuses in the order the dashboard counts them.
var Statuses = []string{RunQueued, RunRunning, RunSucceeded, RunFailed, RunTimedOut, RunKilled, RunExpired, RunCancelled}

// RunView is one agent's run as the API answers it.
type RunView struct {
	AgentID         string    `json:"agent_id"`
	Hostname        string    `json:"hostname"`
	CommandID       string    `json:"command_id"`
	Status          string    `json:"status"`
	ExitCode        *int      `json:"exit_code"`
	Error           string    `json:"error,omitempty"`
	Stdout          string    `json:"stdout"`
	Stderr          string    `json:"stderr"`
	StdoutBytes     int64     `json:"stdout_bytes"`
	StderrBytes     int64     `json:"stderr_bytes"`
	Truncated       bool      `json:"truncated"` // the agent cut an output at the job's cap
	StdoutTruncated bool      `json:"stdout_truncated"`
	StderrTruncated bool      `json:"stderr_truncated"`
	OutputComplete  bool      `json:"output_complete"` // all the output the agent kept is stored
	DeliveredAt     time.Time `json:"delivered_at,omitzero"`
	StartedAt       time.Time `json:"started_at,omitzero"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
	DurationMS      int64     `json:"duration_ms,omitempty"`
}

// Finished reports whether the run ended.
func (v RunView) Finished() bool { return v.Status != RunQueued && v.Status != RunRunning }

// View makes a run's view; output is filled by the caller when wanted.
func View(r store.JobRun, job store.Job, now time.Time) RunView {
	v := RunView{AgentID: r.AgentID, Hostname: r.Hostname, CommandID: r.CommandID, DeliveredAt: r.SentAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, OutputComplete: r.OutputComplete,
		StdoutBytes: r.StdoutStored, StderrBytes: r.StderrStored}
	switch r.State {
	case store.CommandQueued, store.CommandSent:
		switch {
		case !r.StartedAt.IsZero():
			v.Status = RunRunning
		case r.State == store.CommandQueued && now.After(job.StartBy):
			v.Status = RunExpired
		default:
			v.Status = RunQueued
		}
	case store.CommandDone:
		var res protocol.ScriptResult
		if err := json.Unmarshal(r.Output, &res); err != nil {
			v.Status, v.Error = RunFailed, "the agent's result does not decode: "+err.Error()
			break
		}
		v.Status, v.Error = res.Status, res.Error
		if res.Status != protocol.ScriptExpired {
			code := res.ExitCode
			v.ExitCode = &code
			v.StartedAt = res.StartedAt
			if v.StartedAt.IsZero() {
				v.StartedAt = r.StartedAt
			}
			v.DurationMS = res.FinishedAt.Sub(res.StartedAt).Milliseconds()
		}
		v.StdoutTruncated, v.StderrTruncated = res.Stdout.Truncated, res.Stderr.Truncated
		v.Truncated = v.StdoutTruncated || v.StderrTruncated
	case store.CommandFailed:
		v.Status, v.Error = RunFailed, r.Error
		if r.ResultStatus == protocol.ResultUnsupported {
			v.Error = "this agent's version does not run scripts; update it"
		}
	case store.CommandExpired:
		if r.StartedAt.IsZero() {
			v.Status, v.Error = RunExpired, "the agent did not take the run before the job expired"
		} else {
			v.Status, v.Error = RunFailed, "no result: the agent started the run and did not answer before the job's deadline"
		}
	case store.CommandCancelled:
		v.Status = RunCancelled
	default:
		v.Status = r.State
	}
	return v
}

// Text shows output bytes safely: invalid UTF-8 becomes U+FFFD and
// control characters other than newline, tab and carriage return become
// visible escapes, so a script cannot drive the viewer's terminal.
func Text(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			sb.WriteRune(utf8.RuneError)
		case r == '\n' || r == '\t' || r == '\r' || r == 0x1b:
			// Escape sequences are kept: the dashboard's terminal view
			// renders colours; the plain views strip them.
			sb.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			sb.WriteString("\\x")
			sb.WriteByte("0123456789abcdef"[r>>4])
			sb.WriteByte("0123456789abcdef"[r&0xf])
		default:
			sb.WriteRune(r)
		}
		b = b[n:]
	}
	return sb.String()
}

// Progress counts a job's runs by status.
type Progress struct {
	Total    int            `json:"total"`
	Finished int            `json:"finished"`
	Failed   int            `json:"failed"` // failed, timed out, killed or expired
	ByStatus map[string]int `json:"by_status"`
}

// Progress counts a job's runs without reading them, as View would show
// each.
func (s *Service) Progress(ctx context.Context, job store.Job) (Progress, error) {
	counts, err := s.db.JobRunCounts(ctx, job.ID)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{ByStatus: map[string]int{}}
	for _, st := range Statuses {
		p.ByStatus[st] = 0
	}
	now := time.Now()
	for _, c := range counts {
		// The same rules as View, by state rather than by run.
		var status string
		switch c.State {
		case store.CommandQueued, store.CommandSent:
			switch {
			case c.Started:
				status = RunRunning
			case c.State == store.CommandQueued && now.After(job.StartBy):
				status = RunExpired
			default:
				status = RunQueued
			}
		case store.CommandDone:
			status = c.Result
			if _, known := p.ByStatus[status]; !known {
				status = RunFailed // a result that does not decode
			}
		case store.CommandFailed:
			status = RunFailed
		case store.CommandExpired:
			status = RunExpired
			if c.Started {
				status = RunFailed
			}
		case store.CommandCancelled:
			status = RunCancelled
		default:
			status = c.State
		}
		p.ByStatus[status] += c.N
	}
	for st, n := range p.ByStatus {
		p.Total += n
		if st != RunQueued && st != RunRunning {
			p.Finished += n
		}
		switch st {
		case RunFailed, RunTimedOut, RunKilled, RunExpired:
			p.Failed += n
		}
	}
	return p, nil
}
