package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// Level is where a policy is assigned. Higher levels are more specific and
// win over lower ones.
type Level int

const (
	// LevelBuiltin is the built-in default document; it is never assigned.
	LevelBuiltin Level = iota
	// LevelDefault is the organisation-wide default policy.
	LevelDefault
	// LevelClient is a policy assigned to a client.
	LevelClient
	// LevelSite is a policy assigned to a site of a client.
	LevelSite
	// LevelAgent is a policy assigned to one agent.
	LevelAgent
)

// String returns the level's name as used in the API and the dashboard.
func (l Level) String() string {
	switch l {
	case LevelBuiltin:
		return "builtin"
	case LevelDefault:
		return "default"
	case LevelClient:
		return "client"
	case LevelSite:
		return "site"
	case LevelAgent:
		return "agent"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Assignment is a policy document assigned at a level.
type Assignment struct {
	// Level is where the policy is assigned; it decides precedence.
	Level Level
	// PolicyID and PolicyName identify the policy, for Source.
	PolicyID   string
	PolicyName string
	// Document holds the fields the policy sets.
	Document Document
}

// Source says where an effective value comes from.
type Source struct {
	// Level is LevelBuiltin for the built-in default.
	Level Level
	// PolicyID and PolicyName identify the policy; empty for the built-in default.
	PolicyID   string
	PolicyName string
}

// String describes the source for people, e.g. `site policy "Servers" (p-12)`.
func (s Source) String() string {
	if s.Level == LevelBuiltin {
		return "built-in default"
	}
	return fmt.Sprintf("%s policy %q (%s)", s.Level, s.PolicyName, s.PolicyID)
}

// Value is one field of an effective policy: its value and where it comes from.
type Value struct {
	// Path is the field's dotted path, as in Spec.
	Path string
	// Kind is the field's type.
	Kind Kind
	// Value is in the Go type of Kind.
	Value any
	// Source is the assignment that set the value, or the built-in default.
	Source Source
}

// Effective is the resolved policy of one agent: a value for every field.
type Effective struct {
	fields    []Value // in Specs order
	canonical []byte
	revision  string
}

// Resolve computes the effective policy from the assignments that apply to
// one agent. Field by field, the value comes from the most specific
// assignment that sets it, or from the built-in default when none does.
// Assignments may be given in any order; two at the same level apply in
// argument order, the later winning. The documents are expected to have
// passed Validate; cross-field rules that span levels are checked by
// Effective.Validate.
func Resolve(assignments ...Assignment) Effective {
	sorted := slices.Clone(assignments)
	slices.SortStableFunc(sorted, func(a, b Assignment) int { return cmp.Compare(a.Level, b.Level) })

	s := loadSchema()
	fields := make([]Value, len(s.specs))
	for i, sp := range s.specs {
		fields[i] = Value{Path: sp.Path, Kind: sp.Kind, Value: sp.Default, Source: Source{Level: LevelBuiltin}}
	}
	for _, a := range sorted {
		for path, v := range a.Document.values {
			i, ok := s.byPath[path]
			if !ok {
				continue // Document.values only ever holds known paths
			}
			fields[i].Value = v
			fields[i].Source = Source{Level: a.Level, PolicyID: a.PolicyID, PolicyName: a.PolicyName}
		}
	}
	values := make(map[string]any, len(fields))
	for i := range fields {
		fields[i].Value = cloneValue(fields[i].Value)
		if !s.specs[i].ServerOnly {
			values[fields[i].Path] = fields[i].Value
		}
	}
	canonical, err := marshalNested(values)
	if err != nil {
		// The values are bools, numbers, strings and a map of plain structs:
		// encoding them cannot fail.
		panic(fmt.Sprintf("policy: encode effective values: %v", err))
	}
	sum := sha256.Sum256(canonical)
	return Effective{fields: fields, canonical: canonical, revision: hex.EncodeToString(sum[:8])}
}

// Fields returns every field with its value and source, in Specs order.
func (e Effective) Fields() []Value {
	out := slices.Clone(e.fields)
	for i := range out {
		out[i].Value = cloneValue(out[i].Value)
	}
	return out
}

// Get returns the field at path.
func (e Effective) Get(path string) (Value, bool) {
	i, ok := loadSchema().byPath[path]
	if !ok || i >= len(e.fields) {
		return Value{}, false
	}
	v := e.fields[i]
	v.Value = cloneValue(v.Value)
	return v, true
}

// CanonicalJSON returns the effective values as nested JSON with sorted
// keys and no sources: the form sent to agents and hashed into Revision.
// Server-only fields (Spec.ServerOnly) are left out.
func (e Effective) CanonicalJSON() []byte {
	return slices.Clone(e.canonical)
}

// Revision identifies the effective values: the first 16 hex digits of the
// SHA-256 of CanonicalJSON. It depends only on the values, not on which
// level set them, so agents can acknowledge the revision they run.
func (e Effective) Revision() string {
	return e.revision
}

// Validate checks the effective values, including the cross-field rules
// whose two fields come from different levels, e.g. a site that lowers
// thresholds.cpu.trigger below the client's thresholds.cpu.clear.
func (e Effective) Validate() []FieldError {
	doc := Document{values: make(map[string]any, len(e.fields))}
	for _, f := range e.fields {
		doc.values[f.Path] = f.Value
	}
	return Validate(doc)
}
