// Package policy defines Steward's policy document and resolves the
// effective policy of an agent from the documents assigned at the default,
// client, site and agent levels.
//
// A document is a sparse set of fields addressed by dotted paths such as
// "metrics.interval"; a field that is not set inherits from the level above.
// The fields, their types, built-in defaults and ranges are listed by Specs.
// In JSON a document is nested by path segment:
//
//	{"metrics": {"interval": "30s", "enabled": {"temperature": true}}}
//
// The package is pure: no database, no network.
package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Document is a policy document: the fields it sets, by path. Fields it
// does not set are inherited. The zero value is an empty document.
type Document struct {
	values map[string]any
}

// Builtin returns the built-in default document, which sets every field.
func Builtin() Document {
	d := Document{values: make(map[string]any)}
	for _, sp := range loadSchema().specs {
		d.values[sp.Path] = cloneValue(sp.Default)
	}
	return d
}

// Get returns the value the document sets at path, in the Go type of the
// field's Kind, and whether it sets it.
func (d Document) Get(path string) (any, bool) {
	v, ok := d.values[path]
	return cloneValue(v), ok
}

// Set sets the field at path to v. v must be of the field's Kind; plain
// ints are accepted for KindInt and KindPercent, and strings for
// KindSeverity. Set checks the type only: ranges are checked by Validate.
func (d *Document) Set(path string, v any) error {
	sp, ok := SpecFor(path)
	if !ok {
		return fmt.Errorf("set policy field %q: %w", path, ErrUnknownField)
	}
	nv, err := normalize(sp.Kind, v)
	if err != nil {
		return fmt.Errorf("set policy field %q: %w", path, err)
	}
	if d.values == nil {
		d.values = make(map[string]any)
	}
	d.values[path] = nv
	return nil
}

// Unset removes the field at path from the document, so it is inherited.
func (d *Document) Unset(path string) {
	delete(d.values, path)
}

// Paths returns the paths of the fields the document sets, sorted.
func (d Document) Paths() []string {
	return slices.Sorted(maps.Keys(d.values))
}

// Len returns how many fields the document sets.
func (d Document) Len() int { return len(d.values) }

// Clone returns a deep copy of the document.
func (d Document) Clone() Document {
	c := Document{values: make(map[string]any, len(d.values))}
	for p, v := range d.values {
		c.values[p] = cloneValue(v)
	}
	return c
}

// ErrUnknownField is returned by Document.Set for a path that is not a field.
var ErrUnknownField = errors.New("unknown policy field")

// normalize converts v to the Go type of kind.
func normalize(kind Kind, v any) (any, error) {
	switch kind {
	case KindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case KindInt:
		switch n := v.(type) {
		case int64:
			return n, nil
		case int:
			return int64(n), nil
		}
	case KindPercent:
		switch n := v.(type) {
		case float64:
			return n, nil
		case int:
			return float64(n), nil
		}
	case KindDuration:
		if dur, ok := v.(time.Duration); ok {
			return dur, nil
		}
	case KindSeverity:
		switch s := v.(type) {
		case Severity:
			return s, nil
		case string:
			return Severity(s), nil
		}
	case KindMounts:
		if m, ok := v.(map[string]DiskLimits); ok {
			return maps.Clone(m), nil
		}
	case KindChannels:
		if ids, ok := v.([]string); ok {
			return cloneValue(ids), nil
		}
	case KindText:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case KindServices:
		if l, ok := v.([]WatchedService); ok {
			return cloneValue(l), nil
		}
	case KindLinks:
		if l, ok := v.([]Link); ok {
			return cloneValue(l), nil
		}
	case KindSchedules:
		if l, ok := v.([]ScheduledScript); ok {
			return cloneValue(l), nil
		}
	}
	return nil, fmt.Errorf("value of type %T is not a %s", v, kind)
}

// cloneValue copies the mutable value types: the mounts map and channel
// lists.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]DiskLimits:
		if x == nil {
			return map[string]DiskLimits{}
		}
		return maps.Clone(x)
	case []string:
		return append([]string{}, x...)
	case []WatchedService:
		return append([]WatchedService{}, x...)
	case []Link:
		return append([]Link{}, x...)
	case []ScheduledScript:
		out := append([]ScheduledScript{}, x...)
		for i := range out {
			out[i].Args = append([]string{}, out[i].Args...)
		}
		return out
	}
	return v
}

// FieldError is a problem with one field of a policy document.
type FieldError struct {
	// Path is the dotted path of the field, e.g. "metrics.interval".
	Path string
	// Message says what is wrong, e.g. "must be at least 5s".
	Message string
}

// Error returns "path: message".
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// FieldErrors is a list of field errors that is itself an error, returned
// by Decode so callers can show each problem next to its field.
type FieldErrors []FieldError

// Error joins the field errors with "; ".
func (es FieldErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return "invalid policy: " + strings.Join(s, "; ")
}

// Validate checks the fields that doc sets: each against its own range, and
// pairs of fields that doc sets together against each other (a clear level
// on the right side of its trigger, rollup retention at least raw
// retention). Pairs split across levels are checked by Effective.Validate.
// It returns nil when the document is valid.
func Validate(doc Document) []FieldError {
	var errs []FieldError
	for _, sp := range loadSchema().specs {
		v, ok := doc.values[sp.Path]
		if !ok {
			continue
		}
		if msg := checkValue(sp, v); msg != "" {
			errs = append(errs, FieldError{Path: sp.Path, Message: msg})
		}
	}
	errs = append(errs, checkPairs(func(p string) (any, bool) {
		v, ok := doc.values[p]
		return v, ok
	})...)
	return errs
}

func checkValue(sp Spec, v any) string {
	switch sp.Kind {
	case KindPercent:
		if msg := checkPercent(v.(float64)); msg != "" {
			return msg
		}
	case KindSeverity:
		if !v.(Severity).Valid() {
			return fmt.Sprintf("must be one of %q, %q, %q", SeverityInfo, SeverityWarning, SeverityCritical)
		}
	case KindChannels:
		if msg := checkChannels(v.([]string)); msg != "" {
			return msg
		}
	}
	if sp.check != nil {
		return sp.check(v)
	}
	return ""
}

// pairRule relates two fields: check says what is wrong with b given a.
type pairRule struct {
	a, b  string
	check func(a, b any) string
}

func pairRules() []pairRule {
	rules := []pairRule{{"metrics.retention.raw", "metrics.retention.rollup", func(x, y any) string {
		if y.(time.Duration) < x.(time.Duration) {
			return fmt.Sprintf("must be at least metrics.retention.raw (%s)", x.(time.Duration))
		}
		return ""
	}}}
	for _, rule := range []string{"cpu", "memory", "disk"} {
		p := "thresholds." + rule + "."
		rules = append(rules, pairRule{p + "trigger", p + "clear", func(x, y any) string {
			if y.(float64) >= x.(float64) {
				return fmt.Sprintf("must be below %strigger (%g)", p, x.(float64))
			}
			return ""
		}})
	}
	return append(rules, pairRule{"thresholds.disk_free.trigger", "thresholds.disk_free.clear", func(x, y any) string {
		if y.(int64) <= x.(int64) {
			return fmt.Sprintf("must be above thresholds.disk_free.trigger (%d)", x.(int64))
		}
		return ""
	}})
}

// Related returns the field that path is checked against by a rule that
// relates two fields (a clear level's trigger, say), or "" when none is.
func Related(path string) string {
	for _, r := range pairRules() {
		if r.b == path {
			return r.a
		}
	}
	return ""
}

// checkPairs checks the rules that relate two fields, where get returns
// both; a pair with a missing side is skipped.
func checkPairs(get func(path string) (any, bool)) []FieldError {
	var errs []FieldError
	for _, r := range pairRules() {
		x, ok1 := get(r.a)
		y, ok2 := get(r.b)
		if !ok1 || !ok2 {
			continue
		}
		if msg := r.check(x, y); msg != "" {
			errs = append(errs, FieldError{Path: r.b, Message: msg})
		}
	}
	return errs
}
