package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/schedule"
)

// ScheduledScript is one entry of scripts.schedules: a library script the
// agent runs at the occurrences of When, in its own local time.
type ScheduledScript struct {
	// Name names the schedule: a slug, unique in the list. A job's
	// creator is "schedule <name>".
	Name     string `json:"name"`
	ScriptID string `json:"script_id"`
	// Args replace the script's default arguments when not empty.
	Args []string `json:"args"`
	// When is the schedule (see schedule.Grammar).
	When string `json:"when"`
	// Window is how long after its due time a missed occurrence still
	// runs, a duration such as "2h"; "" for the default (the interval of
	// "every", one hour otherwise).
	Window  string `json:"window,omitempty"`
	Enabled bool   `json:"enabled"`
}

// UnmarshalJSON reads an entry, refusing unknown members; enabled is true
// when left out.
func (s *ScheduledScript) UnmarshalJSON(b []byte) error {
	type plain ScheduledScript
	var v struct {
		plain
		Enabled *bool `json:"enabled"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*s = ScheduledScript(v.plain)
	s.Enabled = v.Enabled == nil || *v.Enabled
	return nil
}

// Spec parses When; the entry must be valid.
func (s ScheduledScript) Spec() (schedule.Spec, error) { return schedule.Parse(s.When) }

// WindowDuration returns the entry's window, its default when unset.
func (s ScheduledScript) WindowDuration() (time.Duration, error) {
	spec, err := schedule.Parse(s.When)
	if err != nil {
		return 0, err
	}
	if s.Window == "" {
		return spec.Window(), nil
	}
	d, err := time.ParseDuration(s.Window)
	if err != nil {
		return 0, fmt.Errorf("window %q is not a duration such as 2h", truncate(s.Window, 20))
	}
	return d, nil
}

// Bounds of scripts.schedules, so that the largest policy stays within
// what an agent accepts (protocol.MaxPolicyBytes). The arguments bound is
// tighter than a job's (protocol.MaxScriptArgs): a policy carries them
// to every agent.
const (
	maxSchedules       = 10
	maxScheduleArgs    = 16
	maxScheduleArgJSON = 256
	maxScriptIDLen     = 64
	maxWhenLen         = 40
)

func addScriptFields(add func(path string, kind Kind, def any, help string, check func(any) string)) {
	add("scripts.schedules", KindSchedules, []ScheduledScript{},
		`Library scripts run on a schedule, in the agent's local time: [{"name": "nightly-cleanup", "script_id": "...", "when": "daily 02:30", `+
			`"args": [], "window": "1h", "enabled": true}]. when: `+schedule.Grammar+`. window: how late a run missed while the agent was offline `+
			`still runs (default: the interval of "every", 1h otherwise; at most 7 days). Replaced as a whole by a more specific level.`, checkSchedules)
}

func checkSchedules(v any) string {
	list := v.([]ScheduledScript)
	if len(list) > maxSchedules {
		return fmt.Sprintf("must have at most %d schedules", maxSchedules)
	}
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if msg := scheduleProblem(s); msg != "" {
			return fmt.Sprintf("schedule %q: %s", truncate(s.Name, 40), msg)
		}
		if seen[s.Name] {
			return fmt.Sprintf("schedule %q is listed twice", s.Name)
		}
		seen[s.Name] = true
	}
	return ""
}

func scheduleProblem(s ScheduledScript) string {
	if !schedule.ValidName(s.Name) {
		return fmt.Sprintf("name must be 1 to %d lower-case letters, digits, '-' and '_'", schedule.MaxNameLen)
	}
	if s.ScriptID == "" || len(s.ScriptID) > maxScriptIDLen || scriptIDCheck(s.ScriptID) != "" {
		return "script_id must be a script ID"
	}
	if len(s.When) > maxWhenLen {
		return fmt.Sprintf("when must be at most %d bytes", maxWhenLen)
	}
	if _, err := schedule.Parse(s.When); err != nil {
		return "when " + err.Error()
	}
	w, err := s.WindowDuration()
	switch {
	case err != nil:
		return err.Error()
	case w < schedule.MinWindow || w > schedule.MaxWindow:
		return fmt.Sprintf("window must be between %s and %s", schedule.MinWindow, "7 days (168h)")
	}
	if len(s.Args) > maxScheduleArgs {
		return fmt.Sprintf("at most %d arguments", maxScheduleArgs)
	}
	if b, _ := json.Marshal(s.Args); len(b) > maxScheduleArgJSON {
		return fmt.Sprintf("arguments must be at most %d bytes as JSON", maxScheduleArgJSON)
	}
	return ""
}
