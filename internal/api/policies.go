package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/selection"
	"github.com/steward-rmm/steward/internal/store"
)

type policyBody struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Document    json.RawMessage `json:"document"`
}

func (b policyBody) input() manage.PolicyInput {
	return manage.PolicyInput{Name: b.Name, Description: b.Description, Document: b.Document}
}

func (a *API) listPolicies(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	items, err := a.cfg.DB.ListPolicies(r.Context())
	if err != nil {
		return err
	}
	return writeAll(w, r, items)
}

func (a *API) createPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body policyBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	pol, err := a.cfg.Manage.CreatePolicy(r.Context(), p, body.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pol)
	return nil
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pol, err := a.cfg.DB.Policy(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pol)
	return nil
}

func (a *API) updatePolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body policyBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	pol, err := a.cfg.Manage.UpdatePolicy(r.Context(), p, r.PathValue("id"), body.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pol)
	return nil
}

func (a *API) deletePolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := a.cfg.Manage.DeletePolicy(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type assignmentBody struct {
	Level    string `json:"level"`
	TargetID string `json:"target_id"`
	PolicyID string `json:"policy_id"`
	// TargetIDs assigns the policy to many agents at once (level agent),
	// instead of TargetID.
	TargetIDs []string `json:"target_ids"`
}

// maxAssignAgents bounds one bulk assignment, as other bulk actions are.
const maxAssignAgents = 10000

// bulkAssignment is the answer of a bulk assignment.
type bulkAssignment struct {
	Level    string `json:"level"`
	PolicyID string `json:"policy_id"`
	// Assigned counts the agents that got the policy; Uninstalled those
	// named but left out, being uninstalled.
	Assigned    int `json:"assigned"`
	Uninstalled int `json:"uninstalled"`
}

// assignAgents assigns a policy to every agent of body.TargetIDs in one
// change (manage.AssignAgents).
func (a *API) assignAgents(w http.ResponseWriter, r *http.Request, p access.Principal, body assignmentBody) error {
	if body.Level != store.LevelAgent {
		return input.Errorf("target_ids", "only at the agent level")
	}
	if body.TargetID != "" {
		return input.Errorf("target_ids", "give target_id or target_ids, not both")
	}
	if len(body.TargetIDs) == 0 {
		return input.Errorf("target_ids", "name at least one agent")
	}
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return err
	}
	resolved, err := selection.Resolve(r.Context(), a.cfg.DB, selection.Selection{AgentIDs: body.TargetIDs}, maxAssignAgents)
	if err != nil {
		return err
	}
	n, err := a.cfg.Manage.AssignAgents(r.Context(), p, body.PolicyID, resolved.Agents)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bulkAssignment{Level: store.LevelAgent, PolicyID: body.PolicyID, Assigned: n, Uninstalled: resolved.Uninstalled})
	return nil
}

func (a *API) listAssignments(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	items, err := a.cfg.DB.ListAssignments(r.Context())
	if err != nil {
		return err
	}
	return writeAll(w, r, items)
}

func (a *API) assignPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body assignmentBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	if body.TargetIDs != nil {
		return a.assignAgents(w, r, p, body)
	}
	if err := a.cfg.Manage.Assign(r.Context(), p, body.Level, body.TargetID, body.PolicyID); err != nil {
		return err
	}
	// Answer with the assignment as the list shows it: names, who, when.
	items, err := a.cfg.DB.ListAssignments(r.Context())
	if err != nil {
		return err
	}
	for _, as := range items {
		if as.Level == body.Level && as.TargetID == body.TargetID {
			writeJSON(w, http.StatusOK, as)
			return nil
		}
	}
	return fmt.Errorf("assignment at %s %q: %w", body.Level, body.TargetID, store.ErrNotFound)
}

func (a *API) unassignPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	q := r.URL.Query()
	if err := a.cfg.Manage.Unassign(r.Context(), p, q.Get("level"), q.Get("target_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type effectiveField struct {
	Path   string `json:"path"`
	Value  any    `json:"value"`
	Source struct {
		Level      string `json:"level"`
		PolicyID   string `json:"policy_id,omitempty"`
		PolicyName string `json:"policy_name,omitempty"`
		Text       string `json:"text"`
	} `json:"source"`
}

func (a *API) effectivePolicy(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	id := r.PathValue("id")
	agent, err := a.cfg.DB.Agent(r.Context(), id)
	if err != nil {
		return err
	}
	eff, err := a.cfg.Policies.Agent(r.Context(), id)
	if err != nil {
		return err
	}
	fields := make([]effectiveField, 0, len(eff.Fields()))
	for _, v := range eff.Fields() {
		f := effectiveField{Path: v.Path, Value: jsonValue(v)}
		f.Source.Level, f.Source.PolicyID, f.Source.PolicyName, f.Source.Text = v.Source.Level.String(), v.Source.PolicyID, v.Source.PolicyName, v.Source.String()
		fields = append(fields, f)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"agent_id": id, "revision": eff.Revision(), "policy": json.RawMessage(eff.CanonicalJSON()), "fields": fields,
		// What the agent acknowledged running; it differs from revision
		// while a change is on its way or the agent is offline.
		"agent_revision": agent.PolicyRevision, "agent_applied_at": agent.PolicyAppliedAt,
		"up_to_date": agent.PolicyRevision == eff.Revision(),
	})
	return nil
}

// jsonValue renders a field value as the policy's JSON does (durations as
// "60s"): it encodes a one-field document and takes the value back out
// along the field's path.
func jsonValue(v policy.Value) any {
	var doc policy.Document
	if err := doc.Set(v.Path, v.Value); err != nil {
		return v.Value
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return v.Value
	}
	var node any
	if err := json.Unmarshal(b, &node); err != nil {
		return v.Value
	}
	for _, seg := range strings.Split(v.Path, ".") {
		m, ok := node.(map[string]any)
		if !ok {
			return v.Value
		}
		node = m[seg]
	}
	return node
}
