package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/selection"
	"github.com/steward-rmm/steward/internal/store"
)

// viewOutput bounds the output of each stream a job's runs carry in
// GET /api/v1/jobs/{id}; the whole of it is at .../output.
const viewOutput = 64 << 10

// scriptJSON is a script as the API shows it: the timeout as a duration
// string.
type scriptJSON struct {
	store.Script
	Timeout string `json:"timeout"`
}

func scriptOut(s store.Script) scriptJSON {
	return scriptJSON{Script: s, Timeout: s.Timeout.String()}
}

type scriptBody struct {
	jobs.ScriptInput
	Timeout string `json:"timeout"`
}

func (b scriptBody) input() (jobs.ScriptInput, error) {
	in := b.ScriptInput
	if b.Timeout != "" {
		d, err := time.ParseDuration(b.Timeout)
		if err != nil {
			return in, errBadRequest("timeout must be a duration like 90s or 10m")
		}
		in.Timeout = d
	}
	return in, nil
}

func (a *API) listScripts(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	items, total, err := a.cfg.DB.ListScripts(r.Context(), store.ScriptFilter{Category: q.Get("category"), Language: q.Get("language"), Search: q.Get("q")}, pg)
	if err != nil {
		return err
	}
	out := make([]scriptJSON, len(items))
	for i, s := range items {
		out[i] = scriptOut(s)
	}
	writeJSON(w, http.StatusOK, list[scriptJSON]{Items: out, Total: total, Limit: pg.Normalize().Limit, Offset: pg.Offset})
	return nil
}

// readScript decodes a script from the request body.
func readScript(w http.ResponseWriter, r *http.Request) (jobs.ScriptInput, error) {
	var body scriptBody
	if err := decode(w, r, &body); err != nil {
		return jobs.ScriptInput{}, err
	}
	return body.input()
}

func (a *API) createScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	in, err := readScript(w, r)
	if err != nil {
		return err
	}
	s, err := a.cfg.Jobs.CreateScript(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, scriptOut(s))
	return nil
}

func (a *API) getScript(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	s, err := a.cfg.DB.GetScript(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scriptOut(s))
	return nil
}

func (a *API) updateScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	in, err := readScript(w, r)
	if err != nil {
		return err
	}
	s, err := a.cfg.Jobs.UpdateScript(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scriptOut(s))
	return nil
}

func (a *API) deleteScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := a.cfg.Jobs.DeleteScript(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) scriptVersions(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	if _, err := a.cfg.DB.GetScript(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	vs, err := a.cfg.DB.ScriptVersions(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]scriptJSON, len(vs))
	for i, v := range vs {
		out[i] = scriptOut(v.Script)
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
	return nil
}

type jobBody struct {
	selection.Selection
	ScriptID  string            `json:"script_id"`
	Language  string            `json:"language"`
	Body      string            `json:"body"`
	Args      *[]string         `json:"args"`
	Env       map[string]string `json:"env"`
	Timeout   string            `json:"timeout"`
	ExpiresIn string            `json:"expires_in"`
	RunAs     string            `json:"run_as"`
	MaxOutput int64             `json:"max_output"`
	Confirm   int               `json:"confirm"`
}

func (a *API) runJob(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var b jobBody
	if err := decode(w, r, &b); err != nil {
		return err
	}
	req := jobs.Request{Selection: b.Selection, ScriptID: b.ScriptID, Language: b.Language, Body: b.Body, Args: b.Args, Env: b.Env,
		RunAs: b.RunAs, MaxOutput: b.MaxOutput, Confirm: b.Confirm}
	for _, d := range []struct {
		name, v string
		to      *time.Duration
	}{{"timeout", b.Timeout, &req.Timeout}, {"expires_in", b.ExpiresIn, &req.ExpiresIn}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return errBadRequest("%s must be a positive duration like 90s, 10m or 24h", d.name)
		}
		*d.to = v
	}
	created, err := a.cfg.Jobs.Run(r.Context(), p, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": created.Job.ID, "agents": created.Job.Agents, "skipped": created.Skipped})
	return nil
}

// jobJSON is a job with its progress.
type jobJSON struct {
	store.Job
	Timeout  string        `json:"timeout"`
	Progress jobs.Progress `json:"progress"`
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, total, err := a.cfg.DB.ListJobs(r.Context(), r.URL.Query().Get("script_id"), pg)
	if err != nil {
		return err
	}
	out := make([]jobJSON, len(items))
	for i, j := range items {
		prog, err := a.cfg.Jobs.Progress(r.Context(), j)
		if err != nil {
			return err
		}
		j.Body = "" // the list names jobs; GET /jobs/{id} has the text
		out[i] = jobJSON{Job: j, Timeout: j.Timeout.String(), Progress: prog}
	}
	writeJSON(w, http.StatusOK, list[jobJSON]{Items: out, Total: total, Limit: pg.Normalize().Limit, Offset: pg.Offset})
	return nil
}

// getJob answers a job, its progress and a page of its runs, each with up
// to viewOutput bytes of each stream shown as text.
func (a *API) getJob(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	job, err := a.cfg.DB.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	prog, err := a.cfg.Jobs.Progress(r.Context(), job)
	if err != nil {
		return err
	}
	runs, total, err := a.cfg.DB.JobRuns(r.Context(), job.ID, pg)
	if err != nil {
		return err
	}
	now := time.Now()
	views := make([]jobs.RunView, len(runs))
	for i, run := range runs {
		v := jobs.View(run, job, now)
		for _, s := range []struct {
			stream string
			to     *string
		}{{protocol.StreamStdout, &v.Stdout}, {protocol.StreamStderr, &v.Stderr}} {
			b, err := a.cfg.DB.JobOutput(r.Context(), run.CommandID, s.stream, 0, viewOutput)
			if err != nil {
				return err
			}
			*s.to = jobs.Text(b)
		}
		views[i] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{"job": jobJSON{Job: job, Timeout: job.Timeout.String(), Progress: prog},
		"runs": list[jobs.RunView]{Items: views, Total: total, Limit: pg.Normalize().Limit, Offset: pg.Offset}})
	return nil
}

// jobRun finds the run of the job and agent in the path.
func (a *API) jobRun(r *http.Request) (store.Job, store.JobRun, error) {
	job, err := a.cfg.DB.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		return store.Job{}, store.JobRun{}, err
	}
	runs, err := a.cfg.DB.JobRunOf(r.Context(), job.ID, r.PathValue("agent"))
	if err != nil {
		return store.Job{}, store.JobRun{}, err
	}
	return job, runs, nil
}

// jobOutput answers a run's stored output of one stream, exactly as the
// agent sent it (raw bytes), from ?from= on.
func (a *API) jobOutput(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	_, run, err := a.jobRun(r)
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream")
	if stream == "" {
		stream = protocol.StreamStdout
	}
	if stream != protocol.StreamStdout && stream != protocol.StreamStderr {
		return errBadRequest("stream must be stdout or stderr")
	}
	var from int64
	if v := r.URL.Query().Get("from"); v != "" {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from < 0 {
			return errBadRequest("from must be a byte offset")
		}
	}
	b, err := a.cfg.DB.JobOutput(r.Context(), run.CommandID, stream, from, protocol.MaxScriptOutput)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
	return nil
}

type cancelBody struct {
	// Kill also kills the runs already delivered (and running).
	Kill bool `json:"kill"`
}

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var b cancelBody
	if r.ContentLength != 0 {
		if err := decode(w, r, &b); err != nil {
			return err
		}
	}
	cancelled, killed, err := a.cfg.Jobs.Cancel(r.Context(), p, r.PathValue("id"), b.Kill)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"cancelled": cancelled, "killed": killed})
	return nil
}

func (a *API) agentJobRuns(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	if _, err := a.cfg.DB.Agent(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	runs, total, err := a.cfg.DB.AgentJobRuns(r.Context(), r.PathValue("id"), pg)
	if err != nil {
		return err
	}
	now := time.Now()
	type item struct {
		jobs.RunView
		JobID   string `json:"job_id"`
		JobName string `json:"job_name"`
	}
	out := make([]item, 0, len(runs))
	for _, run := range runs {
		job, err := a.cfg.DB.GetJob(r.Context(), run.JobID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		out = append(out, item{RunView: jobs.View(run, job, now), JobID: job.ID, JobName: job.Name})
	}
	writeJSON(w, http.StatusOK, list[item]{Items: out, Total: total, Limit: pg.Normalize().Limit, Offset: pg.Offset})
	return nil
}
