package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// The agent page's actions tab sends quick actions (processes, services,
// event log, power) through the command service, which checks each one's
// permission, its args and audits it. A posted action redirects to the
// page of its command, which shows "waiting for the agent" and polls
// itself (htmx, every second) until the answer is stored or the command
// expires: an answer in 100 ms and an agent that never comes back are
// the same page.

// recentActions is how many of an agent's latest commands the tab lists.
const recentActions = 10

// pendingPower is a power action pending on an agent, for the agent's
// header, its actions tab and the agents list.
type pendingPower struct {
	protocol.PowerState
}

// Label says what is pending in two words: "reboot pending".
func (p pendingPower) Label() string {
	if p.Action == protocol.PowerShutdown {
		return "shutdown pending"
	}
	return "reboot pending"
}

// Title says what is pending in a sentence: "Reboot pending at 22:30 UTC,
// by alice@example.com: patches".
func (p pendingPower) Title() string {
	s := upperFirst(p.Label())
	if !p.At.IsZero() {
		s += " at " + absTime(p.At)
	}
	if p.By != "" {
		s += ", by " + p.By
	}
	if p.Message != "" {
		s += ": " + p.Message
	}
	return s
}

// pendingPowers derives the pending power action of each agent that has
// one (command.PowerPending) from the latest power answers.
func (h *Handler) pendingPowers(ctx context.Context, agents []store.Agent) (map[string]*pendingPower, error) {
	ids := agentIDs(agents)
	latest, err := h.cfg.DB.LatestPowerResults(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]*pendingPower{}
	for _, a := range agents {
		if st, ok := command.PowerPending(latest[a.ID], a.BootTime); ok {
			out[a.ID] = &pendingPower{st}
		}
	}
	return out, nil
}

// actionsView is the actions tab's data.
type actionsView struct {
	// Enabled is false when this server sends no commands.
	Enabled bool
	// Recent are the agent's latest commands, newest first.
	Recent []actionRow
	// Result is the command the page shows, on /actions/{command}.
	Result *actionResult
	// Error is why a posted action was refused.
	Error string
	// Levels offers the event log's levels.
	Levels []string
	// Form holds the values posted back with a refused action.
	Form postedForm
}

// postedForm is a refused form's values, to show again; nil on a fresh
// form.
type postedForm url.Values

// Value is a posted field's value, or def on a fresh form.
func (f postedForm) Value(field, def string) string {
	if url.Values(f).Has(field) {
		return url.Values(f).Get(field)
	}
	return def
}

// actionRow is a command in the tab's list.
type actionRow struct {
	store.Command
	Summary string
}

// actionResult is a command and what its answer says.
type actionResult struct {
	Command store.Command
	Summary string
	// Self is this page's URL, for polling and for sorting.
	Self string
	// Waiting is true while the answer may still come.
	Waiting bool
	// Offline is true when the agent is not connected while it waits.
	Offline bool
	// Problem says why the output could not be read.
	Problem string

	Processes *protocol.ProcessList
	// Sort is the process table's order: cpu, memory, name or pid.
	Sort     string
	Ended    *protocol.ProcessEnded
	Services *protocol.ServiceList
	Service  *protocol.ServiceInfo
	Log      *protocol.EventLog
	Power    *protocol.PowerState
}

// SortURL links the result sorted by key.
func (r actionResult) SortURL(key string) string {
	return r.Self + "?" + url.Values{"sort": {key}}.Encode()
}

// actionArgs are the arguments of the result tables' templates.
type actionArgs struct {
	View   view
	Result *actionResult
}

// powerOptions are the arguments of the power-options template: the
// prefix of its element IDs and the values posted back, if any.
type powerOptions struct {
	Prefix string
	Form   postedForm
}

// processSorts are the orders of the process table; the first is the
// default.
var processSorts = []string{"cpu", "memory", "name", "pid"}

// sortProcesses orders processes by key: CPU and memory descending, name
// and PID ascending, ties by PID.
func sortProcesses(ps []protocol.ProcessInfo, key string) {
	slices.SortStableFunc(ps, func(a, b protocol.ProcessInfo) int {
		var c int
		switch key {
		case "memory":
			c = cmp.Compare(b.MemoryBytes, a.MemoryBytes)
		case "name":
			c = cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		case "pid":
		default:
			c = cmp.Compare(b.CPUPercent, a.CPUPercent)
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
}

// newActionResult reads a command's answer for display.
func newActionResult(a store.Agent, c store.Command, sort string, now time.Time) *actionResult {
	res := &actionResult{Command: c, Summary: command.Summary(c.Name, c.Args),
		Self: "/agents/" + url.PathEscape(a.ID) + "/actions/" + url.PathEscape(c.ID)}
	open := c.State == store.CommandQueued || c.State == store.CommandSent
	res.Waiting = open && now.Before(c.ExpiresAt)
	res.Offline = res.Waiting && !a.Online
	if c.State != store.CommandDone {
		return res
	}
	var err error
	switch c.Name {
	case protocol.CommandProcesses:
		if !slices.Contains(processSorts, sort) {
			sort = processSorts[0]
		}
		res.Sort = sort
		if res.Processes, err = output[protocol.ProcessList](c.Output); err == nil {
			sortProcesses(res.Processes.Processes, sort)
		}
	case protocol.CommandProcessEnd:
		res.Ended, err = output[protocol.ProcessEnded](c.Output)
	case protocol.CommandServices:
		if res.Services, err = output[protocol.ServiceList](c.Output); err == nil {
			slices.SortStableFunc(res.Services.Services, func(x, y protocol.ServiceInfo) int {
				return cmp.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name))
			})
		}
	case protocol.CommandServiceControl:
		res.Service, err = output[protocol.ServiceInfo](c.Output)
	case protocol.CommandEventLog:
		res.Log, err = output[protocol.EventLog](c.Output)
	case protocol.CommandPower:
		res.Power, err = output[protocol.PowerState](c.Output)
	}
	if err != nil {
		res.Problem = "The agent's answer could not be read: " + err.Error()
	}
	return res
}

// output decodes a command's output.
func output[T any](raw json.RawMessage) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// actionsTab loads the tab's common data.
func (h *Handler) actionsTab(ctx context.Context, a store.Agent) (*actionsView, error) {
	v := &actionsView{Enabled: h.cfg.Commands != nil && !a.Uninstalled(), Levels: protocol.LogLevels}
	cmds, _, err := h.cfg.DB.ListAgentCommands(ctx, a.ID, store.Page{Limit: recentActions})
	if err != nil {
		return nil, err
	}
	for _, c := range cmds {
		v.Recent = append(v.Recent, actionRow{Command: c, Summary: command.Summary(c.Name, c.Args)})
	}
	return v, nil
}

// agentActions serves GET /agents/{id}/actions: the quick actions, what
// power action is pending and the agent's latest commands.
func (h *Handler) agentActions(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := h.actionsTab(ctx, a)
	if err != nil {
		return err
	}
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "actions", Actions: v}, "")
}

// agentAction serves GET /agents/{id}/actions/{command}: one command and
// its answer, or "waiting for the agent" while it may still come. Seeing
// what the agent answered needs the permission to inspect it.
func (h *Handler) agentAction(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.InspectSystem); err != nil {
		return err
	}
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	c, err := h.cfg.DB.Command(ctx, r.PathValue("command"))
	if err != nil {
		return err
	}
	if c.AgentID != a.ID {
		return errNotFound
	}
	res := newActionResult(a, c, r.URL.Query().Get("sort"), time.Now())
	if isPartial(r) && r.URL.Query().Get("part") == "result" {
		return h.render(w, r, http.StatusOK, "agent", "action-result",
			view{Page: agentView{Agent: a, Tab: "actions", Actions: &actionsView{Result: res}}})
	}
	v, err := h.actionsTab(ctx, a)
	if err != nil {
		return err
	}
	v.Result = res
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "actions", Actions: v}, "")
}

// postAction serves POST /agents/{id}/actions: sends the quick action the
// form names and shows its page. The command service checks the
// permission (403) and the args; a refused form is shown again.
func (h *Handler) postAction(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Commands == nil {
		return errNotFound
	}
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return input.Errorf("form", "could not be read: send it again")
	}
	name, args, err := postedAction(r.PostForm, time.Now())
	var ids []string
	if err == nil {
		_, ids, err = h.cfg.Commands.Create(ctx, p, command.Request{
			Name: name, Args: args, AgentIDs: []string{a.ID}, Target: "agent " + a.ID,
		})
	}
	if pr, ok := formProblem(err); ok {
		v, verr := h.actionsTab(ctx, a)
		if verr != nil {
			return verr
		}
		v.Error, v.Form = pr.Message, postedForm(r.PostForm)
		av := agentView{Agent: a, Tab: "actions", Actions: v}
		if av.Power, err = h.agentPower(ctx, a); err != nil {
			return err
		}
		return h.render(w, r, pr.Status, "agent", "", view{Title: "Actions · " + a.Hostname, Nav: "agents", Page: av})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/agents/"+url.PathEscape(a.ID)+"/actions/"+url.PathEscape(ids[0]), http.StatusSeeOther)
	return nil
}

// agentPower is the power action pending on one agent, nil when none.
func (h *Handler) agentPower(ctx context.Context, a store.Agent) (*pendingPower, error) {
	pp, err := h.pendingPowers(ctx, []store.Agent{a})
	return pp[a.ID], err
}

// postedAction reads an action form into a command and its args; the
// command service checks the args again.
func postedAction(form url.Values, now time.Time) (string, json.RawMessage, error) {
	name := form.Get("action")
	var args any
	switch name {
	case protocol.CommandProcesses, protocol.CommandServices:
	case protocol.CommandProcessEnd:
		pid, err := strconv.ParseInt(form.Get("pid"), 10, 32)
		if err != nil {
			return "", nil, input.Errorf("pid", "must be a process ID")
		}
		args = protocol.ProcessEnd{PID: int32(pid), Name: form.Get("process"), Tree: form.Get("tree") == "1"}
	case protocol.CommandServiceControl:
		args = protocol.ServiceControl{Name: form.Get("service"), Action: form.Get("op")}
	case protocol.CommandEventLog:
		q := protocol.EventLogQuery{Level: form.Get("level")}
		if s := strings.TrimSpace(form.Get("limit")); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return "", nil, input.Errorf("limit", "must be a number of entries between 1 and %d", protocol.MaxLogEntries)
			}
			q.Limit = n
		}
		args = q
	case protocol.CommandPower:
		req, err := postedPower(form, now)
		if err != nil {
			return "", nil, err
		}
		args = req
	default:
		return "", nil, input.Errorf("action", "is not a quick action")
	}
	if args == nil {
		return name, nil, nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s args: %w", name, err)
	}
	return name, b, nil
}

// maxPowerMinutes is the longest delay the power forms take, in minutes.
const maxPowerMinutes = int(protocol.MaxPowerDelay / time.Minute)

// postedPower reads a power form: power (reboot, shutdown, cancel), when
// (now, delay, at), minutes for a delay, and the time as at_utc (set by
// app.js from the reader's local time) or at (a datetime-local value,
// taken as UTC without JavaScript), and a message.
func postedPower(form url.Values, now time.Time) (protocol.PowerRequest, error) {
	req := protocol.PowerRequest{Action: form.Get("power"), Message: strings.TrimSpace(strings.ReplaceAll(form.Get("message"), "\r\n", "\n"))}
	if req.Action == protocol.PowerCancel {
		req.Message = ""
		return req, nil
	}
	switch form.Get("when") {
	case "", "now":
	case "delay":
		n, err := strconv.Atoi(strings.TrimSpace(form.Get("minutes")))
		if err != nil || n < 1 || n > maxPowerMinutes {
			return req, input.Errorf("minutes", "must be a number of minutes between 1 and %d", maxPowerMinutes)
		}
		req.Delay = protocol.Duration(time.Duration(n) * time.Minute)
	case "at":
		at, err := time.Parse(time.RFC3339, form.Get("at_utc"))
		if err != nil {
			at, err = time.Parse("2006-01-02T15:04", form.Get("at"))
		}
		if err != nil {
			return req, input.Errorf("at", "must be a date and time")
		}
		if !at.After(now) {
			return req, input.Errorf("at", "must be in the future")
		}
		req.At = at.UTC()
	default:
		return req, input.Errorf("when", "must be now, after a delay or at a time")
	}
	return req, nil
}
