package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// maxRunFormBytes bounds a "run script" post: a body of up to 48 KiB and
// its arguments, form-encoded.
const maxRunFormBytes = 256 << 10

// runRows is how many runs the job page lists at once.
const runRows = 100

// maxScriptChoices bounds the script select of the run forms.
const maxScriptChoices = 500

// expiryChoices are how long a run may wait for an offline agent.
var expiryChoices = []choice{
	{"1h", "1 hour"}, {"4h", "4 hours"}, {"24h", "24 hours"}, {"72h", "3 days"}, {"168h", "7 days"},
}

// outputCaps are the per-stream output caps a run form offers; "" is the
// default (1 MiB).
var outputCaps = []choice{
	{"", "1 MiB per stream (default)"}, {"65536", "64 KiB per stream"}, {"262144", "256 KiB per stream"},
	{"4194304", "4 MiB per stream"}, {"16777216", "16 MiB per stream"},
}

// choice is an option of a select.
type choice struct{ Value, Label string }

// runOptions are the fields of a "run script" form, as shown and as
// posted back when they were refused.
type runOptions struct {
	// Prefix keeps the ids of two forms on one page apart.
	Prefix  string
	Scripts []store.Script
	// ScriptID is the chosen library script; "" is an ad-hoc command.
	ScriptID, Language, Body, Args, Timeout, Expires, RunAs string
	Env, MaxOutput                                          string
	NoArgs                                                  bool
	Languages                                               []string
	Expiries, OutputCaps                                    []choice
}

// runOptions loads the choices of a run form; nil when this server runs
// no scripts or the user may not.
func (h *Handler) runOptions(ctx context.Context, p access.Principal, prefix string) (*runOptions, error) {
	if h.cfg.Jobs == nil || !access.Can(p, access.RunScripts) {
		return nil, nil
	}
	scripts, _, err := h.cfg.DB.ListScripts(ctx, store.ScriptFilter{}, store.Page{Limit: maxScriptChoices})
	if err != nil {
		return nil, err
	}
	return &runOptions{Prefix: prefix, Scripts: scripts, Language: protocol.LangBash, Expires: "24h",
		Languages: protocol.Languages, Expiries: expiryChoices, OutputCaps: outputCaps}, nil
}

// ScriptLabel names a script in the select, with its default arguments.
func (runOptions) ScriptLabel(s store.Script) string {
	label := s.Name + " (" + s.Language
	if s.TargetOS != "" {
		label += ", " + osNames[s.TargetOS]
	}
	label += ")"
	if len(s.Args) > 0 {
		label += " — default arguments: " + strings.Join(s.Args, " ")
	}
	return label
}

// postedRun reads a run form into a request for the jobs service, which
// checks the values; the selection is filled by the caller.
func postedRun(form url.Values) (jobs.Request, runOptions, error) {
	o := runOptions{ScriptID: strings.TrimSpace(form.Get("script_id")), Language: form.Get("language"),
		Body: form.Get("body"), Args: form.Get("args"), Timeout: strings.TrimSpace(form.Get("timeout")),
		Expires: form.Get("expires_in"), RunAs: form.Get("run_as"), Env: form.Get("env"),
		MaxOutput: form.Get("max_output"), NoArgs: form.Get("no_args") == "1"}
	req := jobs.Request{ScriptID: o.ScriptID, RunAs: o.RunAs}
	if c := form.Get("confirm"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return req, o, input.Errorf("confirm", "must be a number of agents")
		}
		req.Confirm = n
	}
	if o.ScriptID == "" {
		req.Language, req.Body = o.Language, strings.ReplaceAll(o.Body, "\r\n", "\n")
	}
	if o.NoArgs && strings.TrimSpace(o.Args) != "" {
		return req, o, input.Errorf("args", "give arguments or tick \"run without arguments\", not both")
	}
	for i, line := range strings.Split(strings.ReplaceAll(o.Env, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || !protocol.ValidEnvName(name) {
			return req, o, input.Errorf("env", "line %d: want NAME=value, the name letters, digits and _ not starting with a digit", i+1)
		}
		if req.Env == nil {
			req.Env = map[string]string{}
		}
		if _, dup := req.Env[name]; dup {
			return req, o, input.Errorf("env", "line %d: %s is set twice", i+1, name)
		}
		req.Env[name] = value
	}
	if o.MaxOutput != "" {
		n, err := strconv.ParseInt(o.MaxOutput, 10, 64)
		if err != nil || n <= 0 || n > protocol.MaxScriptOutput {
			return req, o, input.Errorf("max_output", "must be a number of bytes up to %d", protocol.MaxScriptOutput)
		}
		req.MaxOutput = n
	}
	if o.NoArgs {
		req.Args = &[]string{}
	} else if a := strings.ReplaceAll(o.Args, "\r\n", "\n"); strings.TrimSpace(a) != "" {
		// One argument per line, as typed: spaces and quotes are part of it.
		args := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
		req.Args = &args
	} else if o.ScriptID == "" {
		req.Args = &[]string{}
	}
	if o.Timeout != "" {
		d, err := time.ParseDuration(o.Timeout)
		if err != nil || d <= 0 {
			return req, o, input.Errorf("timeout", "must be a duration such as 30s, 10m or 2h")
		}
		req.Timeout = d
	}
	if o.Expires != "" {
		d, err := time.ParseDuration(o.Expires)
		if err != nil {
			return req, o, input.Errorf("expires_in", "must be a duration such as 1h or 24h")
		}
		req.ExpiresIn = d
	}
	return req, o, nil
}

// runFormView is the page of the run form: /jobs/new, and any run form
// that was refused.
type runFormView struct {
	Opts *runOptions
	// What names the agents, when the form carries them (Hidden).
	What string
	// Hidden are the selection fields the form carries as they came.
	Hidden []keyValue
	// Targets offers sites and clients when the form carries no agents.
	Targets []choice
	Target  string
	Error   string
	Field   string
	Back    string
	// Confirm is the number of agents to confirm, when the job runs on
	// more than the threshold; ConfirmAbove is the threshold.
	Confirm, ConfirmAbove int
}

// selectionFields are the form fields that name a bulk action's agents.
var selectionFields = []string{fieldAgentID, fieldAllMatching, fieldFilter, "site", "client"}

// mayRun refuses the run and cancel pages to a server without jobs (404)
// and to users who may not run scripts (403), before any form is read or
// shown; the jobs service checks the permission again where it acts.
func (h *Handler) mayRun(p access.Principal) error {
	if h.cfg.Jobs == nil {
		return errNotFound
	}
	return access.Require(p, access.RunScripts)
}

// newJobPage serves GET /jobs/new: the run form, for a script
// (?script_id=), an agent (?agent=) or a site or client (?target=).
func (h *Handler) newJobPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.mayRun(p); err != nil {
		return err
	}
	ctx := r.Context()
	opts, err := h.runOptions(ctx, p, "run")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	opts.ScriptID = q.Get("script_id")
	fv := runFormView{Opts: opts, Target: q.Get("target"), Back: "/jobs"}
	if id := q.Get("agent"); id != "" {
		a, err := h.cfg.DB.Agent(ctx, id)
		if err != nil {
			return err
		}
		fv.What, fv.Hidden, fv.Back = a.Hostname, []keyValue{{fieldAgentID, a.ID}}, "/agents/"+url.PathEscape(a.ID)+"/scripts"
	}
	return h.renderRunForm(w, r, http.StatusOK, fv)
}

// renderRunForm renders the run form page, loading the targets when the
// form carries no agents.
func (h *Handler) renderRunForm(w http.ResponseWriter, r *http.Request, status int, fv runFormView) error {
	if len(fv.Hidden) == 0 {
		var err error
		if fv.Targets, err = h.targetChoices(r.Context()); err != nil {
			return err
		}
	}
	return h.render(w, r, status, "job_new", "", view{Title: "Run script", Nav: "scripts", Page: fv})
}

// targetChoices lists the clients and sites a job can target.
func (h *Handler) targetChoices(ctx context.Context) ([]choice, error) {
	clients, _, err := h.cfg.DB.ListClients(ctx, store.Page{Limit: maxFilterChoices})
	if err != nil {
		return nil, err
	}
	var out []choice
	for _, c := range clients {
		out = append(out, choice{"client:" + c.ID, "Client " + c.Name + " (all its sites)"})
		sites, _, err := h.cfg.DB.ListSites(ctx, c.ID, store.Page{Limit: maxFilterChoices})
		if err != nil {
			return nil, err
		}
		for _, s := range sites {
			out = append(out, choice{"site:" + s.ID, "Site " + s.Name + " (" + c.Name + ")"})
		}
	}
	return out, nil
}

// runJob serves POST /jobs: runs a script on the agents the form names
// (the bulk bar, an agent, a site or client) through the jobs service,
// which checks the permission and audits, then shows the job.
func (h *Handler) runJob(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.mayRun(p); err != nil {
		return err
	}
	ctx := r.Context()
	sel, err := h.postedAgents(ctx, r)
	req, posted, perr := postedRun(r.PostForm)
	if err == nil {
		err = perr
	}
	var created jobs.Created
	if err == nil {
		req.Selection = sel.Selection
		created, err = h.cfg.Jobs.Run(ctx, p, req)
	}
	if pr, ok := formProblem(err); ok {
		opts, oerr := h.runOptions(ctx, p, "run")
		if oerr != nil {
			return oerr
		}
		posted.Prefix, posted.Scripts, posted.Languages, posted.Expiries, posted.OutputCaps = opts.Prefix, opts.Scripts, opts.Languages, opts.Expiries, opts.OutputCaps
		fv := runFormView{Opts: &posted, What: sel.What, Error: pr.Message, Field: pr.Field, Back: postedBack(r),
			Target: r.PostForm.Get("target")}
		var confirm *jobs.ConfirmError
		if errors.As(err, &confirm) {
			// Not an error: the count is asked for before anything runs.
			fv.Error, fv.Field, fv.Confirm, fv.ConfirmAbove = "", "", confirm.Agents, confirm.Above
			pr.Status = http.StatusOK
		}
		if fv.Target == "" {
			for _, k := range selectionFields {
				for _, v := range r.PostForm[k] {
					fv.Hidden = append(fv.Hidden, keyValue{k, v})
				}
			}
		}
		return h.renderRunForm(w, r, pr.Status, fv)
	}
	if err != nil {
		return err
	}
	to := "/jobs/" + url.PathEscape(created.Job.ID)
	if len(created.Skipped) > 0 {
		v := url.Values{}
		for _, s := range skipReasons(created.Skipped) {
			v.Add("skipped", strconv.Itoa(s.N)+" "+s.Reason)
		}
		to += "?" + v.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// jobRow is a job in the list, with its progress.
type jobRow struct {
	store.Job
	Progress jobs.Progress
}

// Bar is the share of finished runs, in percent, for the progress bar.
func (j jobRow) Bar() int { return progressBar(j.Progress) }

// Schedule names the schedule that started the job, "" for a job a
// person started.
func (j jobRow) Schedule() string { return scheduleOfJob(j.Job) }

func progressBar(p jobs.Progress) int {
	if p.Total == 0 {
		return 0
	}
	return p.Finished * 100 / p.Total
}

// jobsView is the jobs list.
type jobsView struct {
	Jobs  []jobRow
	Pager pager
}

// jobsPage serves GET /jobs: the jobs, newest first, with their progress.
func (h *Handler) jobsPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	if h.cfg.Jobs == nil {
		return errNotFound
	}
	ctx := r.Context()
	page := pageNumber(r.URL.Query())
	list, total, err := h.cfg.DB.ListJobs(ctx, "", store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	jv := jobsView{Pager: newPager("/jobs", url.Values{}, page, len(list), total)}
	for _, j := range list {
		prog, err := h.cfg.Jobs.Progress(ctx, j)
		if err != nil {
			return err
		}
		jv.Jobs = append(jv.Jobs, jobRow{Job: j, Progress: prog})
	}
	return h.render(w, r, http.StatusOK, "jobs", "", view{Title: "Jobs", Nav: "scripts", Page: jv})
}

// statusCount is a status and how many runs have it.
type statusCount struct {
	Status, Label string
	N             int
	// URL filters the runs table by the status.
	URL     string
	Current bool
}

// jobView is the job page.
type jobView struct {
	Job      store.Job
	Progress jobs.Progress
	Counts   []statusCount
	// ScriptExists says the library script still exists, to link it.
	ScriptExists bool
	Runs         []jobs.RunView
	Pager        runPager
	Status       string
	// Skipped are the notes of the run form that created the job.
	Skipped []string
	// Done says no run waits or runs any more: polling stops.
	Done bool
	Note string
}

// runPager is the pager of the runs table, runRows to a page.
type runPager struct {
	From, To, Total int
	Prev, Next      string
}

// Bar is the share of finished runs, in percent.
func (v jobView) Bar() int { return progressBar(v.Progress) }

// Self is the job page's URL with its status filter.
func (v jobView) Self() string {
	u := "/jobs/" + url.PathEscape(v.Job.ID)
	if v.Status != "" {
		u += "?status=" + url.QueryEscape(v.Status)
	}
	return u
}

// pathJob reads the job the path names; 404 on a server without jobs.
func (h *Handler) pathJob(r *http.Request) (store.Job, error) {
	if h.cfg.Jobs == nil {
		return store.Job{}, errNotFound
	}
	return h.cfg.DB.GetJob(r.Context(), r.PathValue("id"))
}

// jobPage serves GET /jobs/{id}: the job, its progress by status and a
// page of its runs. The progress part polls itself (?part=progress)
// while runs wait or run.
func (h *Handler) jobPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	job, err := h.pathJob(r)
	if err != nil {
		return err
	}
	prog, err := h.cfg.Jobs.Progress(ctx, job)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	jv := jobView{Job: job, Progress: prog, Status: q.Get("status"), Skipped: skippedNotes(q["skipped"])}
	if c, err := strconv.Atoi(q.Get("cancelled")); err == nil {
		// What the cancel form did, after its redirect.
		jv.Note = fmt.Sprintf("Cancelled %s.", plural(c, "queued run"))
		if k, err := strconv.Atoi(q.Get("killed")); err == nil {
			jv.Note += fmt.Sprintf(" Asked the agents to kill %s.", plural(k, "running run"))
		}
	}
	jv.Done = prog.ByStatus[jobs.RunQueued] == 0 && prog.ByStatus[jobs.RunRunning] == 0
	base := "/jobs/" + url.PathEscape(job.ID)
	for _, st := range jobs.Statuses {
		jv.Counts = append(jv.Counts, statusCount{Status: st, Label: statusLabel(st), N: prog.ByStatus[st],
			URL: base + "?status=" + st, Current: st == jv.Status})
	}
	view := view{Title: job.Name + " · Job", Nav: "scripts", Page: &jv}
	if isPartial(r) && q.Get("part") == "progress" {
		return h.render(w, r, http.StatusOK, "job", "job-progress", view)
	}
	if job.ScriptID != "" {
		_, err := h.cfg.DB.GetScript(ctx, job.ScriptID)
		switch {
		case err == nil:
			jv.ScriptExists = true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	page := pageNumber(q)
	pg := store.Page{Limit: runRows, Offset: (page - 1) * runRows}
	now := time.Now()
	var runs []store.JobRun
	var total int
	if jv.Status != "" {
		match := jobs.Match(jv.Status, job, now)
		if match == nil {
			return input.Errorf("status", "is not a run status")
		}
		// The count is the progress's: the same rules, one pass less.
		runs, err = h.cfg.DB.FilteredJobRuns(ctx, job.ID, match, pg)
		total = prog.ByStatus[jv.Status]
	} else {
		runs, total, err = h.cfg.DB.JobRuns(ctx, job.ID, pg)
	}
	if err != nil {
		return err
	}
	for _, run := range runs {
		jv.Runs = append(jv.Runs, jobs.View(run, job, now))
	}
	jv.Pager = runPager{Total: total}
	if len(runs) > 0 {
		jv.Pager.From, jv.Pager.To = pg.Offset+1, pg.Offset+len(runs)
	}
	link := func(n int) string {
		v := url.Values{}
		if jv.Status != "" {
			v.Set("status", jv.Status)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return base
		}
		return base + "?" + v.Encode()
	}
	if page > 1 {
		jv.Pager.Prev = link(page - 1)
	}
	if jv.Pager.To < total && len(runs) > 0 {
		jv.Pager.Next = link(page + 1)
	}
	return h.render(w, r, http.StatusOK, "job", "", view)
}

// skipReasonRE is a note of the run form's redirect: a count and one of
// the reasons the jobs service gives for leaving an agent out.
var skipReasonRE = regexp.MustCompile(`^[0-9]{1,6} (uninstalled|cmd runs on Windows only|the script is for (windows|linux|darwin))$`)

// skippedNotes keeps the notes of the redirect that read as the service
// writes them: the URL is anyone's to craft, and the page must not show
// made-up text as if the server said it.
func skippedNotes(notes []string) []string {
	var out []string
	for _, n := range notes {
		if skipReasonRE.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

// statusLabel names a run status for people.
func statusLabel(st string) string {
	return upperFirst(strings.ReplaceAll(st, "_", " "))
}

// cancelJob serves POST /jobs/{id}/cancel: cancels the runs not started
// and, with kill=1, kills those running, through the jobs service.
func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.mayRun(p); err != nil {
		return err
	}
	job, err := h.pathJob(r)
	if err != nil {
		return err
	}
	id := job.ID
	kill := r.PostFormValue("kill") == "1"
	cancelled, killed, err := h.cfg.Jobs.Cancel(r.Context(), p, id, kill)
	if err != nil {
		return err
	}
	v := url.Values{"cancelled": {strconv.Itoa(cancelled)}}
	if kill {
		v.Set("killed", strconv.Itoa(killed))
	}
	http.Redirect(w, r, "/jobs/"+url.PathEscape(id)+"?"+v.Encode(), http.StatusSeeOther)
	return nil
}

// runView is the page of one agent's run.
type runView struct {
	Job store.Job
	Run jobs.RunView
	// Stdout and Stderr are the run's output as text shown safely, ANSI
	// escape sequences removed.
	Stdout, Stderr string
	// Cut says the page shows only the start of a stream.
	StdoutCut, StderrCut bool
}

// EventsURL is the run's event stream.
func (v runView) EventsURL() string {
	return "/api/v1/jobs/" + url.PathEscape(v.Job.ID) + "/events?agent_id=" + url.QueryEscape(v.Run.AgentID)
}

// RawURL downloads one stream of the run as the agent sent it.
func (v runView) RawURL(stream string) string {
	return "/api/v1/jobs/" + url.PathEscape(v.Job.ID) + "/runs/" + url.PathEscape(v.Run.AgentID) + "/output?stream=" + stream
}

// runOutputShown bounds the output the run page shows of each stream; the
// raw download has all of it.
const runOutputShown = 256 << 10

// runPage serves GET /jobs/{id}/runs/{agent}: one run with its output.
// app.js follows the run's events while it is not finished.
func (h *Handler) runPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	job, err := h.pathJob(r)
	if err != nil {
		return err
	}
	run, err := h.cfg.DB.JobRunOf(ctx, job.ID, r.PathValue("agent"))
	if err != nil {
		return err
	}
	rv := runView{Job: job, Run: jobs.View(run, job, time.Now())}
	for _, s := range []struct {
		stream string
		text   *string
		cut    *bool
		size   int64
	}{{protocol.StreamStdout, &rv.Stdout, &rv.StdoutCut, run.StdoutStored}, {protocol.StreamStderr, &rv.Stderr, &rv.StderrCut, run.StderrStored}} {
		b, err := h.cfg.DB.JobOutput(ctx, run.CommandID, s.stream, 0, runOutputShown)
		if err != nil {
			return err
		}
		*s.text, *s.cut = stripANSI(jobs.Text(b)), s.size > runOutputShown
	}
	title := rv.Run.Hostname + " · " + job.Name
	return h.render(w, r, http.StatusOK, "job_run", "", view{Title: title, Nav: "scripts", Page: rv})
}

// stripANSI removes terminal escape sequences (colours, cursor moves)
// from output: the page shows text, it does not interpret a terminal.
// app.js does the same to live output.
func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != 0x1b {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '[' {
			// CSI: parameters and intermediates, then one final byte;
			// without one, only the introducer goes.
			j := i + 2
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
				j++
			}
			if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
				i = j
			} else {
				i++
			}
			continue
		}
		if i+1 < len(s) && s[i+1] == ']' {
			// OSC: up to BEL or ESC \.
			j := i + 2
			for j < len(s) && s[j] != 0x07 && s[j] != 0x1b {
				j++
			}
			if j < len(s) && s[j] == 0x1b {
				j++
			}
			i = j
			continue
		}
		i++ // a two-byte escape
	}
	return b.String()
}

// agentRunsView is the scripts tab of the agent page.
type agentRunsView struct {
	Runs  []agentRun
	Pager pager
	// CanRun offers "Run script…".
	CanRun bool
}

// agentRun is a run on the scripts tab, with its job.
type agentRun struct {
	jobs.RunView
	JobID, JobName string
}

// agentScripts serves GET /agents/{id}/scripts: the agent's runs, newest
// first.
func (h *Handler) agentScripts(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	page := pageNumber(r.URL.Query())
	runs, total, err := h.cfg.DB.AgentJobRuns(ctx, a.ID, store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	rv := &agentRunsView{CanRun: h.cfg.Jobs != nil && access.Can(p, access.RunScripts) && !a.Uninstalled(),
		Pager: newPager("/agents/"+url.PathEscape(a.ID)+"/scripts", url.Values{}, page, len(runs), total)}
	jobsByID := map[string]store.Job{}
	now := time.Now()
	for _, run := range runs {
		job, ok := jobsByID[run.JobID]
		if !ok {
			if job, err = h.cfg.DB.GetJob(ctx, run.JobID); err != nil {
				return err
			}
			jobsByID[run.JobID] = job
		}
		rv.Runs = append(rv.Runs, agentRun{RunView: jobs.View(run, job, now), JobID: job.ID, JobName: job.Name})
	}
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "scripts", Runs: rv}, "")
}

// durationMS says how long a run took, to the millisecond under a
// second and to the tenth of a second above.
func durationMS(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d < time.Second {
		return d.String()
	}
	return d.Round(100 * time.Millisecond).String()
}
