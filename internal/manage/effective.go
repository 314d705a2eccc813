package manage

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// checkEffective refuses a change to policies or assignments that would
// leave the effective policy of some scope inconsistent: a rule relating
// two fields broken across levels, such as a site policy that sets only
// thresholds.cpu.clear above the trigger it inherits. Every assigned
// scope and the default level are resolved before and after change is
// applied to a copy of the stored assignments; only problems the change
// brings are blamed on it, each naming the scope and where the other value
// comes from.
func (s *Service) checkEffective(ctx context.Context, change func(snap *store.PolicySnapshot), extra ...store.PolicyScope) error {
	snap, err := s.db.PolicySnapshot(ctx)
	if err != nil {
		return err
	}
	scopes, err := s.db.PolicyScopes(ctx)
	if err != nil {
		return err
	}
	after := store.PolicySnapshot{
		Assignments: slices.Clone(snap.Assignments),
		Policies:    maps.Clone(snap.Policies),
	}
	change(&after)
	before, next := effective.New(snap), effective.New(after)

	scopes = append(append([]store.PolicyScope{{Level: store.LevelDefault, Name: "the default level"}}, scopes...), extra...)
	var fes []policy.FieldError
	seen := map[policy.FieldError]bool{}
	for _, sc := range scopes {
		eff, err := next.Resolve(sc.ClientID, sc.SiteID, sc.AgentID)
		if err != nil {
			return err
		}
		problems := eff.Validate()
		if len(problems) == 0 {
			continue
		}
		old := map[policy.FieldError]bool{}
		if was, err := before.Resolve(sc.ClientID, sc.SiteID, sc.AgentID); err == nil {
			for _, fe := range was.Validate() {
				old[fe] = true
			}
		}
		for _, fe := range problems {
			if old[fe] || seen[fe] {
				continue
			}
			// One message per problem: the first scope that shows it names
			// it; the rest would repeat it.
			seen[fe] = true
			fes = append(fes, policy.FieldError{Path: fe.Path, Message: describeScopeProblem(eff, sc, fe)})
		}
	}
	if len(fes) > 0 {
		return &PolicyInvalidError{Fields: fes}
	}
	return nil
}

// describeScopeProblem says what is wrong, with both values of a related
// pair and where each comes from, and in which scope, e.g. `must be below
// thresholds.cpu.trigger (70): thresholds.cpu.clear is 80 from the built-in
// default, thresholds.cpu.trigger is 70 from the site policy "Tight" (…);
// in the effective policy of site "Acme / HQ"`.
func describeScopeProblem(eff policy.Effective, sc store.PolicyScope, fe policy.FieldError) string {
	msg := fe.Message
	if other := policy.Related(fe.Path); other != "" {
		var parts []string
		for _, path := range []string{fe.Path, other} {
			if v, ok := eff.Get(path); ok {
				parts = append(parts, fmt.Sprintf("%s is %v from the %s", path, v.Value, v.Source))
			}
		}
		msg += ": " + strings.Join(parts, ", ")
	}
	where := sc.Name
	if sc.Level != store.LevelDefault {
		where = fmt.Sprintf("%s %q", sc.Level, sc.Name)
	}
	return msg + "; in the effective policy of " + where
}

// scopeOf returns the scope of a level and target, which must exist.
func (s *Service) scopeOf(ctx context.Context, level, targetID string) (store.PolicyScope, error) {
	sc := store.PolicyScope{Level: level, TargetID: targetID}
	switch level {
	case store.LevelDefault:
		sc.Name = "the default level"
	case store.LevelClient:
		c, err := s.db.Client(ctx, targetID)
		if err != nil {
			return sc, err
		}
		sc.ClientID, sc.Name = c.ID, c.Name
	case store.LevelSite:
		st, err := s.db.Site(ctx, targetID)
		if err != nil {
			return sc, err
		}
		c, err := s.db.Client(ctx, st.ClientID)
		if err != nil {
			return sc, err
		}
		sc.ClientID, sc.SiteID, sc.Name = c.ID, st.ID, c.Name+" / "+st.Name
	case store.LevelAgent:
		a, err := s.db.Agent(ctx, targetID)
		if err != nil {
			return sc, err
		}
		sc.ClientID, sc.SiteID, sc.AgentID, sc.Name = a.ClientID, a.SiteID, a.ID, a.Hostname
	}
	return sc, nil
}

// withAssignment returns a change that places policy at the scope.
func withAssignment(level, targetID string, pol store.Policy) func(*store.PolicySnapshot) {
	return func(snap *store.PolicySnapshot) {
		snap.Assignments = slices.DeleteFunc(snap.Assignments, func(a store.PolicyAssignment) bool {
			return a.Level == level && a.TargetID == targetID
		})
		snap.Assignments = append(snap.Assignments, store.PolicyAssignment{Level: level, TargetID: targetID, PolicyID: pol.ID, PolicyName: pol.Name})
		snap.Policies[pol.ID] = pol
	}
}
