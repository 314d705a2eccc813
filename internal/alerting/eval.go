package alerting

import (
	"sort"
	"time"
)

// Transition is an alert opening or resolving.
type Transition struct {
	AgentID string
	Rule    Rule
	// Open is true when the alert opens, false when it resolves.
	Open bool
	// Value is the value that caused the transition; At its sample time.
	Value float64
	At    time.Time
}

// state is one rule's progress on one agent.
type state struct {
	pendingSince time.Time // first sample of the current breach; zero when none
	open         bool
}

// Evaluator tracks rule states per agent. It is not safe for concurrent
// use; the server serialises calls per agent.
type Evaluator struct {
	states map[string]map[string]*state // agent → rule name → state
}

// NewEvaluator returns an empty Evaluator.
func NewEvaluator() *Evaluator {
	return &Evaluator{states: map[string]map[string]*state{}}
}

// Restore marks a rule as open, for alerts already open in the database
// when the server starts, so they resolve instead of opening twice.
func (e *Evaluator) Restore(agentID, ruleName string) {
	e.agent(agentID)[ruleName] = &state{open: true}
}

func (e *Evaluator) agent(agentID string) map[string]*state {
	m := e.states[agentID]
	if m == nil {
		m = map[string]*state{}
		e.states[agentID] = m
	}
	return m
}

// Observe feeds one sample's values for an agent and returns the
// transitions they cause, in a stable order. Values without a rule are
// ignored.
func (e *Evaluator) Observe(agentID string, t Thresholds, at time.Time, values map[string]float64) []Transition {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Transition
	states := e.agent(agentID)
	for _, key := range keys {
		rule, ok := t.RuleFor(key)
		if !ok {
			continue
		}
		v := values[key]
		st := states[rule.Name]
		if st == nil {
			st = &state{}
			states[rule.Name] = st
		}
		switch {
		case st.open:
			if rule.cleared(v) {
				st.open, st.pendingSince = false, time.Time{}
				out = append(out, Transition{AgentID: agentID, Rule: rule, Open: false, Value: v, At: at})
			}
		case rule.breached(v):
			if st.pendingSince.IsZero() || at.Before(st.pendingSince) {
				st.pendingSince = at
			}
			if at.Sub(st.pendingSince) >= rule.For {
				st.open = true
				out = append(out, Transition{AgentID: agentID, Rule: rule, Open: true, Value: v, At: at})
			}
		default:
			// The breach was interrupted before it lasted long enough.
			st.pendingSince = time.Time{}
		}
	}
	return out
}

// Reset forgets one rule's progress on an agent, so the rule is evaluated
// afresh: used when an opening was silenced, so that a condition still
// present after the silence opens the alert then.
func (e *Evaluator) Reset(agentID, ruleName string) {
	delete(e.agent(agentID), ruleName)
}

// Forget drops an agent's states (the agent was deleted).
func (e *Evaluator) Forget(agentID string) { delete(e.states, agentID) }
