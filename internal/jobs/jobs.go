// Package jobs runs scripts on agents: the script library, jobs (one run
// per agent, a command each, queued for agents that are offline), the
// runs' start and output as agents report them, and the output sweep that
// asks an agent again for output lost on the way.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/groupcommit"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/selection"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of a job.
const (
	// DefaultExpiry is how long a run waits for an agent that is offline.
	DefaultExpiry = 24 * time.Hour
	MaxExpiry     = 7 * 24 * time.Hour
	MinExpiry     = time.Minute
	// resultGrace is how long past its start-by time and timeout a run's
	// result is still awaited: the agent's clock, its queue of runs, the
	// delivery of the result after a reconnect.
	resultGrace = 30 * time.Minute
	// maxAgents bounds one job.
	maxAgents = 20000
)

// SubjectJobs carries JobEvent JSON when a job's runs change (started,
// output, finished): the live views re-read what they show.
const SubjectJobs = "steward.jobs"

// JobEvent says a job changed.
type JobEvent struct {
	JobID string `json:"job_id"`
}

// Service runs jobs and keeps the script library.
type Service struct {
	db     *store.DB
	cmds   *command.Service
	bus    bus.Bus
	log    *slog.Logger
	starts *groupcommit.Group[store.RunStart]
	output *groupcommit.Group[store.OutputPiece]
	inline *groupcommit.Group[inlineRun]
	// confirmAbove: a job for more agents needs Request.Confirm; 0 never
	// asks.
	confirmAbove int
}

// New returns a Service.
func New(db *store.DB, cmds *command.Service, b bus.Bus, log *slog.Logger) *Service {
	s := &Service{db: db, cmds: cmds, bus: b, log: log, confirmAbove: DefaultConfirmAbove}
	s.starts = groupcommit.New(func(ctx context.Context, batch []store.RunStart) []error {
		jobs, err := s.db.MarkRunsStarted(ctx, batch)
		s.changed(ctx, jobs)
		return repeat(err, len(batch))
	})
	s.output = groupcommit.New(func(ctx context.Context, batch []store.OutputPiece) []error {
		jobs, refused, err := s.db.AddJobOutput(ctx, batch)
		if refused > 0 {
			s.log.Warn("refused script output of another agent's run or past the run's cap", "pieces", refused)
		}
		s.changed(ctx, jobs)
		return repeat(err, len(batch))
	})
	s.inline = groupcommit.New(s.writeInline)
	return s
}

func repeat(err error, n int) []error {
	if err == nil {
		return nil
	}
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// SetConfirmAbove sets how many agents a job may run on before the caller
// must confirm the count (Request.Confirm); 0 never asks.
func (s *Service) SetConfirmAbove(n int) { s.confirmAbove = n }

// ConfirmAbove is the confirmation threshold.
func (s *Service) ConfirmAbove() int { return s.confirmAbove }

// changed tells the live views that jobs changed.
func (s *Service) changed(ctx context.Context, jobIDs []string) {
	for _, id := range slices.Compact(slices.Sorted(slices.Values(jobIDs))) {
		b, _ := json.Marshal(JobEvent{JobID: id})
		if err := s.bus.Publish(ctx, SubjectJobs, b); err != nil {
			s.log.Debug("publish job event", "job_id", id, "err", err)
		}
	}
}

var _ hub.ScriptHandler = (*Service)(nil)

// ScriptStarted records that an agent's run started.
func (s *Service) ScriptStarted(ctx context.Context, c *hub.Conn, st protocol.ScriptStarted) error {
	// The server's clock, as for every other step: agents' clocks drift.
	return s.starts.Do(ctx, store.RunStart{CommandID: st.CommandID, AgentID: c.AgentID, At: time.Now()})
}

// ScriptOutput stores a piece of a run's output.
func (s *Service) ScriptOutput(ctx context.Context, c *hub.Conn, o protocol.ScriptOutput) error {
	return s.output.Do(ctx, store.OutputPiece{CommandID: o.CommandID, AgentID: c.AgentID, Stream: o.Stream, Pos: o.Offset, Data: o.Data})
}

// Request asks for a script to run on agents: a library script (ScriptID,
// with its defaults) or an ad-hoc one (Language and Body).
type Request struct {
	selection.Selection
	ScriptID string `json:"script_id"`
	Language string `json:"language"`
	Body     string `json:"body"`
	// Args replace the script's default arguments when not nil.
	Args *[]string `json:"args"`
	// Env is added to the script's environment (and wins over it).
	Env       map[string]string `json:"env"`
	Timeout   time.Duration     `json:"-"`
	ExpiresIn time.Duration     `json:"-"`
	RunAs     string            `json:"run_as"`
	// MaxOutput caps each stream of each run (0: each agent's policy,
	// scripts.max_output, 1 MiB by default).
	MaxOutput int64 `json:"max_output"`
	// Confirm is the number of agents the caller confirmed the job runs
	// on; a job for more than the service's confirmation threshold runs
	// only when it is exactly that number.
	Confirm int `json:"confirm"`
}

// DefaultConfirmAbove is how many agents a job may run on without the
// caller confirming the count.
const DefaultConfirmAbove = 25

// Created is a new job and the agents of the selection it left out.
type Created struct {
	Job store.Job `json:"job"`
	// Skipped counts agents left out, by why.
	Skipped map[string]int `json:"skipped"`
}

// Run creates a job: one run per selected agent, sent at once to those
// online and queued for the others until the job expires.
func (s *Service) Run(ctx context.Context, p access.Principal, req Request) (Created, error) {
	if err := access.Require(p, access.RunScripts); err != nil {
		return Created{}, err
	}

	job := store.Job{Name: "ad-hoc command", Language: req.Language, Body: req.Body, RunAs: req.RunAs, EnvNames: []string{}}
	run := protocol.ScriptRun{Language: req.Language, Body: req.Body, Env: map[string]string{}, RunAs: req.RunAs, MaxOutput: req.MaxOutput}
	targetOS := ""
	if req.ScriptID != "" {
		if req.Body != "" || req.Language != "" {
			return Created{}, input.Errorf("body", "give either script_id or language and body, not both")
		}
		sc, err := s.db.GetScript(ctx, req.ScriptID)
		if errors.Is(err, store.ErrNotFound) {
			return Created{}, input.Errorf("script_id", "no script %s", req.ScriptID)
		}
		if err != nil {
			return Created{}, err
		}
		job.ScriptID, job.ScriptVersion, job.Name, job.Language, job.Body = sc.ID, sc.Version, sc.Name, sc.Language, sc.Body
		run.Language, run.Body, run.Args, run.Timeout = sc.Language, sc.Body, sc.Args, protocol.Duration(sc.Timeout)
		for k, v := range sc.Env {
			run.Env[k] = v
		}
		if run.RunAs == "" {
			run.RunAs = sc.RunAs
		}
		targetOS = sc.TargetOS
	} else if req.Body == "" || req.Language == "" {
		return Created{}, input.Errorf("body", "give script_id, or language and body")
	}
	if req.Args != nil {
		run.Args = *req.Args
	}
	for k, v := range req.Env {
		run.Env[k] = v
	}
	if req.Timeout != 0 {
		run.Timeout = protocol.Duration(req.Timeout)
	}
	if run.Timeout == 0 {
		run.Timeout = protocol.Duration(protocol.DefaultScriptTimeout)
	}
	if run.RunAs == "" {
		run.RunAs = protocol.RunAsSystem
	}
	expires := req.ExpiresIn
	if expires == 0 {
		expires = DefaultExpiry
	}
	if expires < MinExpiry || expires > MaxExpiry {
		return Created{}, input.Errorf("expires_in", "must be between %v and %v", MinExpiry, MaxExpiry)
	}
	run.SHA256 = protocol.ScriptSHA256(run.Body)
	now := time.Now().UTC().Truncate(time.Millisecond)
	run.StartBy = now.Add(expires)
	if err := run.Validate(); err != nil {
		return Created{}, input.Errorf(fieldOf(err), "%v", err)
	}
	sel, err := selection.Resolve(ctx, s.db, req.Selection, maxAgents)
	if err != nil {
		return Created{}, err
	}
	agents, target := sel.Agents, sel.Target
	args, err := json.Marshal(run)
	if err != nil {
		return Created{}, err
	}
	out := Created{Skipped: map[string]int{}}
	if sel.Uninstalled > 0 {
		out.Skipped["uninstalled"] = sel.Uninstalled
	}
	prepared := make([]command.Prepared, 0, len(agents))
	for _, a := range agents {
		if why := unfit(a, run.Language, targetOS); why != "" {
			out.Skipped[why]++
			continue
		}
		prepared = append(prepared, command.Prepared{AgentID: a.ID, Args: args})
	}
	if len(prepared) == 0 {
		return Created{}, input.Errorf("target", "no selected agent can run it (%v)", out.Skipped)
	}
	if s.confirmAbove > 0 && len(prepared) > s.confirmAbove && req.Confirm != len(prepared) {
		return Created{}, &ConfirmError{Agents: len(prepared), Above: s.confirmAbove}
	}
	for k := range run.Env {
		job.EnvNames = append(job.EnvNames, k)
	}
	slices.Sort(job.EnvNames)
	job.Language, job.SHA256, job.Args, job.Timeout, job.RunAs = run.Language, run.SHA256, run.Args, time.Duration(run.Timeout), run.RunAs
	// 0: each agent caps by its policy's scripts.max_output.
	job.MaxOutput, job.StartBy, job.Target, job.CreatedBy, job.CreatedAt = run.MaxOutput, run.StartBy, target, p.ActorName(), now
	_, err = s.cmds.CreatePrepared(ctx, p, access.RunScripts, protocol.CommandScript, job.Name+" on "+target,
		expires+time.Duration(run.Timeout)+resultGrace, prepared,
		func(tx *store.Tx, b store.CommandBatch, cmds []store.Command) error {
			job.ID, job.Agents = b.ID, len(cmds)
			if err := tx.CreateJob(ctx, job, cmds); err != nil {
				return err
			}
			argv, _ := json.Marshal(job.Args)
			detail := map[string]string{"job_id": job.ID, "name": job.Name, "language": job.Language, "sha256": job.SHA256,
				"args": string(argv), "env": strings.Join(job.EnvNames, ","), "run_as": job.RunAs, "timeout": job.Timeout.String(),
				"agents": fmt.Sprint(len(cmds)), "target": target, "expires_in": expires.String()}
			if job.ScriptID != "" {
				detail["script_id"], detail["script_version"] = job.ScriptID, fmt.Sprint(job.ScriptVersion)
			} else {
				detail["body"] = clip(job.Body, 2048)
			}
			return tx.AddAudit(ctx, p.Audit("job.run", "job", job.ID, detail))
		})
	if err != nil {
		return Created{}, err
	}
	out.Job = job
	return out, nil
}

// fieldOf names the request field a ScriptRun validation error is about,
// by how protocol.ScriptRun.Validate words it.
func fieldOf(err error) string {
	msg := strings.TrimLeft(err.Error(), "0123456789 ")
	for _, f := range []struct{ prefix, field string }{
		{"language", "language"}, {"body", "body"}, {"sha256", "body"}, {"the script", "body"},
		{"argument", "args"}, {"environment", "env"}, {"timeout", "timeout"}, {"run_as", "run_as"}, {"max_output", "max_output"},
	} {
		if strings.HasPrefix(msg, f.prefix) {
			return f.field
		}
	}
	return "body"
}

// unfit says why agent a cannot run a script of lang meant for targetOS
// ("" for any), or "".
func unfit(a store.Agent, lang, targetOS string) string {
	switch {
	case targetOS != "" && a.OS != targetOS:
		return "the script is for " + targetOS
	case lang == protocol.LangCmd && a.OS != "windows":
		return "cmd runs on Windows only"
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Cancel cancels what a job has not delivered yet; with kill, runs that
// were delivered are killed (with their process trees) too, and those
// not started yet do not start. It returns how many runs it cancelled
// and how many it asked agents to kill.
func (s *Service) Cancel(ctx context.Context, p access.Principal, jobID string, kill bool) (cancelled, killed int, err error) {
	if err := access.Require(p, access.RunScripts); err != nil {
		return 0, 0, err
	}
	var queued, delivered []store.Command
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		queued, delivered, err = tx.CancelJob(ctx, jobID, p.ActorName())
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("job.cancel", "job", jobID, map[string]string{
			"cancelled": fmt.Sprint(len(queued)), "kill": fmt.Sprint(kill), "delivered": fmt.Sprint(len(delivered))}))
	})
	if err != nil {
		return 0, 0, err
	}
	s.changed(ctx, []string{jobID})
	// A run marked queued may have been written to its agent a moment
	// ago: its online agent is told to drop it too.
	ids := make([]string, len(queued))
	for i, c := range queued {
		ids[i] = c.AgentID
	}
	targets, err := s.db.CommandTargets(ctx, store.AgentFilter{}, ids)
	if err != nil {
		return len(queued), 0, err
	}
	online := map[string]bool{}
	for _, t := range targets {
		online[t.AgentID] = t.Online
	}
	var stop []store.Command
	for _, c := range queued {
		if online[c.AgentID] {
			stop = append(stop, c)
		}
	}
	if kill {
		stop = append(stop, delivered...)
	}
	if len(stop) == 0 {
		return len(queued), 0, nil
	}
	prepared := make([]command.Prepared, len(stop))
	for i, c := range stop {
		args, _ := json.Marshal(protocol.ScriptKill{CommandID: c.ID})
		prepared[i] = command.Prepared{AgentID: c.AgentID, Args: args}
	}
	_, err = s.cmds.CreatePrepared(ctx, p, access.RunScripts, protocol.CommandScriptKill, "stop the runs of job "+jobID, time.Hour, prepared,
		func(tx *store.Tx, b store.CommandBatch, _ []store.Command) error {
			return tx.AddAudit(ctx, p.Audit("job.kill", "job", jobID, map[string]string{"runs": fmt.Sprint(len(prepared)), "batch_id": b.ID}))
		})
	if err != nil {
		return len(queued), 0, err
	}
	if kill {
		killed = len(delivered)
	}
	return len(queued), killed, nil
}

// Watch signals on the returned channel when the job changes (a run
// started, output arrived, a run finished), coalescing bursts into one
// signal, until stop is called.
func (s *Service) Watch(jobID string) (changed <-chan struct{}, stop func(), err error) {
	ch := make(chan struct{}, 1)
	unsub, err := s.bus.Subscribe(SubjectJobs, func(data []byte) {
		var ev JobEvent
		if json.Unmarshal(data, &ev) != nil || ev.JobID != jobID {
			return
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("watch job %s: %w", jobID, err)
	}
	return ch, unsub, nil
}

// remediationExpiry is how long a remediation run waits for its agent: a
// fix that runs an hour after the alert is no fix.
const remediationExpiry = time.Hour

// Remediate runs a library script on the agent of an alert that opened,
// as the alert's rule says, and returns the job's ID. It is audited as a
// job run by "alert remediation".
func (s *Service) Remediate(ctx context.Context, a store.Alert, scriptID string) (string, error) {
	p := access.System("remediation of alert " + a.ID + " (" + a.Rule + ")")
	created, err := s.Run(ctx, p, Request{Selection: selection.Selection{AgentIDs: []string{a.AgentID}}, ScriptID: scriptID,
		ExpiresIn: remediationExpiry})
	if err != nil {
		return "", err
	}
	return created.Job.ID, nil
}

// ConfirmError refuses a job for more agents than the confirmation
// threshold whose count the caller did not confirm: it runs when asked
// again with Request.Confirm set to Agents.
type ConfirmError struct {
	Agents, Above int
}

func (e *ConfirmError) Error() string { return e.Unwrap().Error() }

// Unwrap makes it an input error of the field confirm.
func (e *ConfirmError) Unwrap() error {
	return input.Errorf("confirm", "this job runs on %d agents, more than %d: send it again with confirm set to %d", e.Agents, e.Above, e.Agents)
}
