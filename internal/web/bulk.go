package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/selection"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/updates"
)

// A bulk action acts on agents named in a form one of these ways, read by
// postedAgents and shared by every action of the agents list's bulk bar:
//
//   - id: the checked rows, one value each;
//   - all=1 and filter: every agent the list's filter matches (filter is
//     the list's query string), on any page, resolved here on the server;
//   - site or client: every agent of a site or client;
//   - target: "site:ID" or "client:ID", from a select that offers both.
const (
	fieldAgentID     = "id"
	fieldAllMatching = "all"
	fieldFilter      = "filter"
)

// agentSelection is what a bulk form names, resolved for the updates
// service, with the words the result page uses for it.
type agentSelection struct {
	updates.Selection
	// What names the selection for people: "2 selected agents",
	// "all 120 agents matching the filter", "site Head Office".
	What string
}

// selectionForm is what a bulk form names, read and checked, before the
// database resolves it: exactly one of its ways is set.
type selectionForm struct {
	Site, Client string
	// All asks for every agent Filter matches.
	All    bool
	Filter agentQuery
	IDs    []string
}

// readSelection reads and checks the selection fields of a bulk form.
func readSelection(form url.Values) (selectionForm, error) {
	sf := selectionForm{Site: strings.TrimSpace(form.Get("site")), Client: strings.TrimSpace(form.Get("client"))}
	if t := form.Get("target"); t != "" {
		kind, id, _ := strings.Cut(t, ":")
		switch {
		case kind == "site" && id != "":
			sf.Site = id
		case kind == "client" && id != "":
			sf.Client = id
		default:
			return selectionForm{}, input.Errorf("target", "must be a site or a client")
		}
	}
	switch {
	case sf.Site != "" && sf.Client != "":
		return selectionForm{}, input.Errorf("target", "must be a site or a client, not both")
	case sf.Site != "" || sf.Client != "":
		return sf, nil
	case form.Get(fieldAllMatching) == "1":
		filter, err := url.ParseQuery(form.Get(fieldFilter))
		if err != nil {
			return selectionForm{}, input.Errorf("filter", "is not a list filter")
		}
		sf.All, sf.Filter = true, parseAgentQuery(filter)
		return sf, nil
	}
	sf.IDs = form[fieldAgentID]
	if len(sf.IDs) == 0 {
		return selectionForm{}, input.Errorf("selection", "is empty: select agents first")
	}
	if len(sf.IDs) > updates.MaxAgents {
		return selectionForm{}, input.Errorf("selection", "has more than %s agents", num(updates.MaxAgents))
	}
	return sf, nil
}

// postedAgents reads the agents a bulk form names. An "all matching"
// selection is resolved to agent IDs through the list's own filter, so
// that the agents acted on are exactly those the list counted.
func (h *Handler) postedAgents(ctx context.Context, r *http.Request) (agentSelection, error) {
	if err := r.ParseForm(); err != nil {
		return agentSelection{}, input.Errorf("selection", "could not be read: send the form again")
	}
	sf, err := readSelection(r.PostForm)
	if err != nil {
		return agentSelection{}, err
	}
	switch {
	case sf.Site != "":
		s, err := h.cfg.DB.Site(ctx, sf.Site)
		if err != nil {
			return agentSelection{}, err
		}
		return agentSelection{Selection: updates.Selection{SiteID: s.ID}, What: fmt.Sprintf("the agents of site %s (%s)", s.Name, s.ClientName)}, nil
	case sf.Client != "":
		c, err := h.cfg.DB.Client(ctx, sf.Client)
		if err != nil {
			return agentSelection{}, err
		}
		return agentSelection{Selection: updates.Selection{ClientID: c.ID}, What: "the agents of client " + c.Name}, nil
	case sf.All:
		agents, total, err := h.cfg.DB.ListAllAgents(ctx, sf.Filter.filter(), updates.MaxAgents)
		if err != nil {
			return agentSelection{}, err
		}
		if total > updates.MaxAgents {
			return agentSelection{}, input.Errorf("selection", "%s agents match; at most %s at once: narrow the filter", num(total), num(updates.MaxAgents))
		}
		if len(agents) == 0 {
			return agentSelection{}, input.Errorf("selection", "no agent matches the filter any more")
		}
		return agentSelection{Selection: updates.Selection{AgentIDs: agentIDs(agents)},
			What: fmt.Sprintf("all %s matching the filter", plural(len(agents), "agent"))}, nil
	}
	return agentSelection{Selection: updates.Selection{AgentIDs: sf.IDs}, What: plural(len(sf.IDs), "selected agent")}, nil
}

// spreadChoice is a choice of how far "update now" spreads downloads.
type spreadChoice struct{ Value, Label string }

// spreadChoices are the spreads the forms offer, up to updates.MaxSpread.
var spreadChoices = []spreadChoice{
	{"0s", "All at once"}, {"15m", "Over 15 minutes"}, {"30m", "Over 30 minutes"},
	{"1h", "Over 1 hour"}, {"2h", "Over 2 hours"}, {"6h", "Over 6 hours"},
}

// defaultSpread is preselected: a fleet's downloads do not storm the
// server, and one agent still updates within minutes.
const defaultSpread = "15m"

// updateOptions are the choices of an "update now" form: the bulk bar,
// the site and client pages and the release page's rollback.
type updateOptions struct {
	Spreads []spreadChoice
	Spread  string
	// Releases are the active releases that can be named instead of the
	// newest of each agent's channel.
	Releases []store.Release
	// Release and Rollback preselect a release and the rollback box.
	Release  string
	Rollback bool
}

// maxReleaseChoices bounds the release select: the newest are the ones
// anyone offers by hand.
const maxReleaseChoices = 100

// updateOptions loads the choices of an "update now" form; nil when this
// server offers no updates or the user may not.
func (h *Handler) updateOptions(ctx context.Context, p access.Principal) (*updateOptions, error) {
	if h.cfg.Updates == nil || !access.Can(p, access.ManageUpdates) {
		return nil, nil
	}
	rels, _, err := h.cfg.DB.ListReleases(ctx, store.ReleaseFilter{Status: store.ReleaseActive}, store.Page{Limit: maxReleaseChoices})
	if err != nil {
		return nil, err
	}
	return &updateOptions{Spreads: spreadChoices, Spread: defaultSpread, Releases: rels}, nil
}

// postedUpdate reads the options of an "update now" form; the updates
// service checks the values (spread bounds, the release and its rollback).
func postedUpdate(form url.Values, sel updates.Selection) (updates.Request, error) {
	req := updates.Request{Selection: sel, ReleaseID: form.Get("release"),
		Retry: form.Get("retry") == "1", Rollback: form.Get("rollback") == "1"}
	if req.Rollback && req.ReleaseID == "" {
		// The service would take it as a plain update to the newest release.
		return updates.Request{}, input.Errorf("rollback", "needs a release: choose the release to go back to")
	}
	if v := form.Get("spread"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return updates.Request{}, input.Errorf("spread", "must be a duration such as 30m or 2h")
		}
		req.Spread = d
	}
	return req, nil
}

// skipReason is a line of the result: why some agents got nothing.
type skipReason struct {
	Reason string
	N      int
}

// bulkResult is the page a bulk action answers with: what it did, why
// some agents were left out, or why nothing was done.
type bulkResult struct {
	// Action names what was asked, e.g. "Update now".
	Action string
	// What names the agents it was asked for.
	What    string
	Offered int
	Skipped []skipReason
	// Error is why nothing was done, when the request was refused.
	Error string
	// Back is where the user came from.
	Back string
	// Done and None say what was done to the agents ("Sent to",
	// "sent"); empty for an update ("Offered to", "offered"). Note says
	// what happens next, when the update's words do not fit.
	Done, None, Note string
	// Confirm, when set, asks to confirm that many agents, more than
	// ConfirmAbove, before anything is done: the form posts to FormAction
	// again with Hidden, the fields as they came.
	Confirm, ConfirmAbove int
	FormAction            string
	Hidden                []keyValue
}

// SkippedTotal counts the agents left out.
func (b bulkResult) SkippedTotal() int {
	n := 0
	for _, s := range b.Skipped {
		n += s.N
	}
	return n
}

// skipReasons orders a summary's reasons, the most frequent first.
func skipReasons(m map[string]int) []skipReason {
	out := make([]skipReason, 0, len(m))
	for why, n := range m {
		out = append(out, skipReason{why, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// postedBack is the page a bulk form came from, to link back to.
func postedBack(r *http.Request) string {
	if b := r.PostFormValue("back"); b != "" {
		return safeNext(b)
	}
	return "/agents"
}

// updateNow serves POST /updates: "update now" for the agents the form
// names (the agents list's bulk bar, a site, a client, or the release
// page's rollback), through the same updates service as POST
// /api/v1/updates, which checks the permission and audits the offer.
func (h *Handler) updateNow(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Updates == nil {
		return errNotFound
	}
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	res := bulkResult{Action: "Update now", Back: postedBack(r)}
	if r.PostFormValue("rollback") == "1" {
		res.Action = "Roll back"
	}
	sel, err := h.postedAgents(r.Context(), r)
	var sum updates.Summary
	if err == nil {
		res.What = sel.What
		var req updates.Request
		if req, err = postedUpdate(r.PostForm, sel.Selection); err == nil {
			sum, err = h.cfg.Updates.UpdateNow(r.Context(), p, req)
		}
	}
	if pr, ok := formProblem(err); ok {
		res.Error = pr.Message
		return h.render(w, r, pr.Status, "bulk_result", "", view{Title: res.Action, Nav: "agents", Page: res})
	}
	if err != nil {
		return err
	}
	res.Offered, res.Skipped = sum.Offered, skipReasons(sum.Skipped)
	return h.render(w, r, http.StatusOK, "bulk_result", "", view{Title: res.Action, Nav: "agents", Page: res})
}

// bulkPower serves POST /agents/power: the bulk bar's reboot or shutdown
// (now, after a delay or at a time, with a message) for the agents the
// form names, sent as one batch of power commands through the command
// service, which checks the permission and audits it.
func (h *Handler) bulkPower(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Commands == nil {
		return errNotFound
	}
	if err := access.Require(p, access.ControlPower); err != nil {
		return err
	}
	ctx := r.Context()
	res := bulkResult{Action: "Reboot or shut down", Back: postedBack(r), Done: "Sent to", None: "sent",
		Note: "Each agent tells its logged-in user (through the tray, where it runs) and acts at the time asked; the agents list marks it \"reboot pending\" or \"shutdown pending\" once it answered."}
	resolved, err := h.postedBulk(ctx, r, &res)
	var req protocol.PowerRequest
	if err == nil {
		req, err = postedPower(r.PostForm, time.Now())
	}
	if err == nil {
		res.Action = powerLabels[req.Action]
		if n := len(resolved.Agents); req.Action != protocol.PowerCancel && h.mustConfirm(r.PostForm, n) {
			// Nothing is sent until the count is confirmed, as for a job.
			res.Confirm, res.ConfirmAbove, res.FormAction = n, h.confirmAbove(), r.URL.Path
			for k, vs := range r.PostForm {
				if k == "confirm" || k == access.CSRFField {
					continue
				}
				for _, v := range vs {
					res.Hidden = append(res.Hidden, keyValue{k, v})
				}
			}
			sort.Slice(res.Hidden, func(i, j int) bool { return res.Hidden[i].Key < res.Hidden[j].Key })
			return h.render(w, r, http.StatusOK, "bulk_result", "", view{Title: res.Action, Nav: "agents", Page: res})
		}
		var args []byte
		if args, err = json.Marshal(req); err != nil {
			return fmt.Errorf("encode power request: %w", err)
		}
		_, _, err = h.cfg.Commands.Create(ctx, p, command.Request{
			Name: protocol.CommandPower, Args: args, AgentIDs: agentIDs(resolved.Agents), Target: resolved.Target,
		})
	}
	return h.renderBulk(w, r, res, resolved, err)
}

// powerLabels name the power actions as the result page's title.
var powerLabels = map[string]string{
	protocol.PowerReboot: "Reboot", protocol.PowerShutdown: "Shut down", protocol.PowerCancel: "Cancel reboot or shutdown",
}

// bulkAssignPolicy serves POST /agents/policy: the bulk bar's "Assign
// policy", which places the chosen policy on each agent the form names
// at the agent level, all in one change (manage.AssignAgents).
func (h *Handler) bulkAssignPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return err
	}
	ctx := r.Context()
	res := bulkResult{Action: "Assign policy", Back: postedBack(r), Done: "Assigned to", None: "assigned",
		Note: "Each agent's policy now comes from this one for every field it sets; connected agents got their new policy at once."}
	resolved, err := h.postedBulk(ctx, r, &res)
	if err == nil {
		if policyID := r.PostForm.Get("policy_id"); policyID == "" {
			err = input.Errorf("policy_id", "is required: choose a policy")
		} else {
			_, err = h.cfg.Manage.AssignAgents(ctx, p, policyID, resolved.Agents)
		}
	}
	return h.renderBulk(w, r, res, resolved, err)
}

// postedBulk lists the installed agents a bulk form names, for actions
// that reach all of them or none, and names them in res.
func (h *Handler) postedBulk(ctx context.Context, r *http.Request, res *bulkResult) (selection.Resolved, error) {
	sel, err := h.postedAgents(ctx, r)
	if err != nil {
		return selection.Resolved{}, err
	}
	res.What = sel.What
	resolved, err := selection.Resolve(ctx, h.cfg.DB, sel.Selection, updates.MaxAgents)
	if err == nil && len(resolved.Agents) == 0 {
		err = input.Errorf("selection", "has no installed agent")
	}
	return resolved, err
}

// renderBulk answers a bulk action that acts on every resolved agent or
// on none: the refusal, or how many it reached and the uninstalled ones
// it left out.
func (h *Handler) renderBulk(w http.ResponseWriter, r *http.Request, res bulkResult, resolved selection.Resolved, err error) error {
	if pr, ok := formProblem(err); ok {
		res.Error = pr.Message
		return h.render(w, r, pr.Status, "bulk_result", "", view{Title: res.Action, Nav: "agents", Page: res})
	}
	if err != nil {
		return err
	}
	res.Offered = len(resolved.Agents)
	if resolved.Uninstalled > 0 {
		res.Skipped = []skipReason{{"uninstalled", resolved.Uninstalled}}
	}
	return h.render(w, r, http.StatusOK, "bulk_result", "", view{Title: res.Action, Nav: "agents", Page: res})
}

// confirmAbove is how many agents a bulk power action may reach before
// its count must be confirmed: the jobs service's threshold for script
// runs (--confirm-above), so one setting rules both.
func (h *Handler) confirmAbove() int {
	if h.cfg.Jobs != nil {
		return h.cfg.Jobs.ConfirmAbove()
	}
	return jobs.DefaultConfirmAbove
}

// mustConfirm reports whether an action on n agents needs its count
// confirmed and the form does not carry exactly that count.
func (h *Handler) mustConfirm(form url.Values, n int) bool {
	above := h.confirmAbove()
	return above > 0 && n > above && form.Get("confirm") != strconv.Itoa(n)
}
