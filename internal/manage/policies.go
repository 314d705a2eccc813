package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// PolicyInvalidError lists every problem of a policy document, by field.
type PolicyInvalidError struct {
	Fields []policy.FieldError
}

func (e *PolicyInvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid policy: " + strings.Join(parts, "; ")
}

// PolicyNotifier is told which assignments a policy change affects, so the
// agents under them get their new effective policy at once.
type PolicyNotifier interface {
	PolicyChanged(ctx context.Context, scopes []store.PolicyAssignment)
}

// SetPolicyNotifier installs the notifier. Call it before serving.
func (s *Service) SetPolicyNotifier(n PolicyNotifier) { s.notifier = n }

func (s *Service) policyChanged(ctx context.Context, scopes ...store.PolicyAssignment) {
	if s.notifier != nil {
		s.notifier.PolicyChanged(ctx, scopes)
	}
}

// PolicyInput is what an operator sends to create or change a policy.
type PolicyInput struct {
	Name        string
	Description string
	Document    json.RawMessage
}

// checkPolicy validates the input and returns the normalized document,
// whose notification routes name existing channels.
func (s *Service) checkPolicy(ctx context.Context, in PolicyInput) (string, string, json.RawMessage, error) {
	name, err := checkName("name", in.Name)
	if err != nil {
		return "", "", nil, err
	}
	desc := strings.TrimSpace(in.Description)
	if len(desc) > 1000 {
		return "", "", nil, input.Errorf("description", "must be at most 1000 characters")
	}
	raw := in.Document
	if len(raw) == 0 {
		raw = json.RawMessage(`{}`)
	}
	doc, err := policy.Decode(raw)
	var fes policy.FieldErrors
	if errors.As(err, &fes) {
		return "", "", nil, &PolicyInvalidError{Fields: fes}
	}
	if err != nil {
		return "", "", nil, input.Errorf("document", "%s", err.Error())
	}
	if fes := policy.Validate(doc); len(fes) > 0 {
		return "", "", nil, &PolicyInvalidError{Fields: fes}
	}
	if err := s.checkRoutes(ctx, doc); err != nil {
		return "", "", nil, err
	}
	if v, ok := doc.Get("updates.window"); ok {
		if _, err := protocol.ParseUpdateWindow(v.(string)); err != nil {
			return "", "", nil, &PolicyInvalidError{Fields: []policy.FieldError{{Path: "updates.window", Message: err.Error()}}}
		}
	}
	canonical, err := json.Marshal(doc)
	if err != nil {
		return "", "", nil, fmt.Errorf("encode policy document: %w", err)
	}
	return name, desc, canonical, nil
}

// checkRoutes refuses notification routes to channels that do not exist.
// A channel deleted later is skipped when alerts are routed.
func (s *Service) checkRoutes(ctx context.Context, doc policy.Document) error {
	var fes []policy.FieldError
	var known map[string]bool
	for _, sp := range policy.Specs() {
		if sp.Kind != policy.KindChannels {
			continue
		}
		v, ok := doc.Get(sp.Path)
		if !ok {
			continue
		}
		for _, id := range v.([]string) {
			if id == policy.AllChannels {
				continue
			}
			if known == nil {
				channels, err := s.db.ListChannels(ctx)
				if err != nil {
					return err
				}
				known = make(map[string]bool, len(channels))
				for _, c := range channels {
					known[strings.ToLower(c.ID)] = true
				}
			}
			if !known[strings.ToLower(id)] {
				fes = append(fes, policy.FieldError{Path: sp.Path, Message: fmt.Sprintf("no notification channel %s", id)})
				break
			}
		}
	}
	if len(fes) > 0 {
		return &PolicyInvalidError{Fields: fes}
	}
	return nil
}

// CreatePolicy stores a new, unassigned policy.
func (s *Service) CreatePolicy(ctx context.Context, p access.Principal, in PolicyInput) (store.Policy, error) {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return store.Policy{}, err
	}
	name, desc, doc, err := s.checkPolicy(ctx, in)
	if err != nil {
		return store.Policy{}, err
	}
	var out store.Policy
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		out, err = tx.CreatePolicy(ctx, store.Policy{Name: name, Description: desc, Document: doc})
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("policy.create", "policy", out.ID, map[string]string{"name": name, "document": string(doc)}))
	})
	return out, err
}

// UpdatePolicy replaces a policy's name, description and document.
func (s *Service) UpdatePolicy(ctx context.Context, p access.Principal, id string, in PolicyInput) (store.Policy, error) {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return store.Policy{}, err
	}
	name, desc, doc, err := s.checkPolicy(ctx, in)
	if err != nil {
		return store.Policy{}, err
	}
	err = s.checkEffective(ctx, func(snap *store.PolicySnapshot) {
		if pol, ok := snap.Policies[id]; ok {
			pol.Name, pol.Document = name, doc
			snap.Policies[id] = pol
		}
	})
	if err != nil {
		return store.Policy{}, err
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.UpdatePolicy(ctx, store.Policy{ID: id, Name: name, Description: desc, Document: doc}); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("policy.update", "policy", id, map[string]string{"name": name, "document": string(doc)}))
	})
	if err != nil {
		return store.Policy{}, err
	}
	pol, err := s.db.Policy(ctx, id)
	if err != nil {
		return store.Policy{}, err
	}
	s.policyChanged(ctx, pol.Assignments...)
	return pol, nil
}

// DeletePolicy removes an unassigned policy.
func (s *Service) DeletePolicy(ctx context.Context, p access.Principal, id string) error {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return err
	}
	pol, err := s.db.Policy(ctx, id)
	if err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeletePolicy(ctx, id); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("policy.delete", "policy", id, map[string]string{"name": pol.Name}))
	})
}

// Assign places a policy at the default level or on a client, site or
// agent, replacing the policy there.
func (s *Service) Assign(ctx context.Context, p access.Principal, level, targetID, policyID string) error {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return err
	}
	if err := s.checkTarget(ctx, level, targetID); err != nil {
		return err
	}
	pol, err := s.db.Policy(ctx, policyID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return input.Errorf("policy_id", "no policy %s", policyID)
		}
		return err
	}
	scope, err := s.scopeOf(ctx, level, targetID)
	if err != nil {
		return err
	}
	if err := s.checkEffective(ctx, withAssignment(level, targetID, pol), scope); err != nil {
		return err
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.Assign(ctx, store.PolicyAssignment{Level: level, TargetID: targetID, PolicyID: policyID, AssignedBy: p.ActorName()}); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("policy.assign", level, targetID, map[string]string{"policy_id": policyID}))
	})
	if err == nil {
		s.policyChanged(ctx, store.PolicyAssignment{Level: level, TargetID: targetID})
	}
	return err
}

// maxNotifyScopes bounds the assignments one change announcement names,
// so that a bulk assignment's announcement stays well under a bus
// message's size limit.
const maxNotifyScopes = 1000

// AssignAgents places a policy on each of agents at the agent level, in
// one transaction with one audit entry, and pushes the new effective
// policy to those connected. Either all are assigned or none is: an
// assignment that would make one agent's effective policy invalid refuses
// the whole request. It returns how many agents it assigned.
func (s *Service) AssignAgents(ctx context.Context, p access.Principal, policyID string, agents []store.Agent) (int, error) {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return 0, err
	}
	if len(agents) == 0 {
		return 0, input.Errorf("agent_ids", "name at least one agent")
	}
	agents = slices.CompactFunc(slices.SortedFunc(slices.Values(agents), func(a, b store.Agent) int { return strings.Compare(a.ID, b.ID) }),
		func(a, b store.Agent) bool { return a.ID == b.ID })
	pol, err := s.db.Policy(ctx, policyID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, input.Errorf("policy_id", "no policy %s", policyID)
		}
		return 0, err
	}
	scopes := make([]store.PolicyScope, len(agents))
	changed := make([]store.PolicyAssignment, len(agents))
	for i, a := range agents {
		scopes[i] = store.PolicyScope{Level: store.LevelAgent, TargetID: a.ID, ClientID: a.ClientID, SiteID: a.SiteID, AgentID: a.ID, Name: a.Hostname}
		changed[i] = store.PolicyAssignment{Level: store.LevelAgent, TargetID: a.ID}
	}
	named := make(map[string]bool, len(agents))
	for _, a := range agents {
		named[a.ID] = true
	}
	err = s.checkEffective(ctx, func(snap *store.PolicySnapshot) {
		snap.Assignments = slices.DeleteFunc(snap.Assignments, func(as store.PolicyAssignment) bool {
			return as.Level == store.LevelAgent && named[as.TargetID]
		})
		for _, a := range agents {
			snap.Assignments = append(snap.Assignments, store.PolicyAssignment{Level: store.LevelAgent, TargetID: a.ID, PolicyID: pol.ID, PolicyName: pol.Name})
		}
		snap.Policies[pol.ID] = pol
	}, scopes...)
	if err != nil {
		return 0, err
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		for _, a := range agents {
			if err := tx.Assign(ctx, store.PolicyAssignment{Level: store.LevelAgent, TargetID: a.ID, PolicyID: pol.ID, AssignedBy: p.ActorName()}); err != nil {
				return err
			}
		}
		target := "agent " + agents[0].ID
		if len(agents) > 1 {
			target = fmt.Sprintf("%d agents", len(agents))
		}
		return tx.AddAudit(ctx, p.Audit("policy.assign", store.LevelAgent, target, map[string]string{
			"policy_id": pol.ID, "policy": pol.Name, "agents": fmt.Sprint(len(agents)),
		}))
	})
	if err != nil {
		return 0, err
	}
	for chunk := range slices.Chunk(changed, maxNotifyScopes) {
		s.policyChanged(ctx, chunk...)
	}
	return len(agents), nil
}

// Unassign removes the policy at a level and target; the fields it set
// fall back to the levels above.
func (s *Service) Unassign(ctx context.Context, p access.Principal, level, targetID string) error {
	if err := access.Require(p, access.ManagePolicies); err != nil {
		return err
	}
	if err := s.checkTarget(ctx, level, targetID); err != nil {
		return err
	}
	if level == store.LevelDefault {
		return input.Errorf("level", "the default level always has a policy; assign another one instead")
	}
	err := s.checkEffective(ctx, func(snap *store.PolicySnapshot) {
		snap.Assignments = slices.DeleteFunc(snap.Assignments, func(a store.PolicyAssignment) bool {
			return a.Level == level && a.TargetID == targetID
		})
	})
	if err != nil {
		return err
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.Unassign(ctx, level, targetID); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("policy.unassign", level, targetID, nil))
	})
	if err == nil {
		s.policyChanged(ctx, store.PolicyAssignment{Level: level, TargetID: targetID})
	}
	return err
}

func (s *Service) checkTarget(ctx context.Context, level, targetID string) error {
	var err error
	switch level {
	case store.LevelDefault:
		if targetID != "" {
			return input.Errorf("target_id", "must be empty at the default level")
		}
		return nil
	case store.LevelClient:
		_, err = s.db.Client(ctx, targetID)
	case store.LevelSite:
		_, err = s.db.Site(ctx, targetID)
	case store.LevelAgent:
		_, err = s.db.Agent(ctx, targetID)
	default:
		return input.Errorf("level", "must be default, client, site or agent")
	}
	if errors.Is(err, store.ErrNotFound) {
		return input.Errorf("target_id", "no %s %s", level, targetID)
	}
	return err
}
