package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxDocumentSize is the largest JSON policy document Decode accepts.
const MaxDocumentSize = 64 << 10

// Decode parses a policy document from untrusted JSON and validates it.
//
// Decoding is strict: unknown fields, duplicate keys, values of the wrong
// type and trailing data are rejected, and the input is limited to
// MaxDocumentSize bytes. A JSON null, for a field or a whole section, leaves
// it unset. Problems with fields are returned together as FieldErrors;
// malformed JSON is returned as a plain error.
func Decode(data []byte) (Document, error) {
	if len(data) > MaxDocumentSize {
		return Document{}, fmt.Errorf("decode policy: document is %d bytes, limit is %d", len(data), MaxDocumentSize)
	}
	d := Document{values: make(map[string]any)}
	var errs FieldErrors
	s := loadSchema()
	err := walkObject(data, "", false, func(path string, raw json.RawMessage) error {
		return d.decodeField(s, path, raw, &errs)
	}, &errs)
	if err != nil {
		return Document{}, fmt.Errorf("decode policy: %w", err)
	}
	errs = append(errs, Validate(d)...)
	if len(errs) > 0 {
		return Document{}, errs
	}
	return d, nil
}

// UnmarshalJSON decodes a document with Decode, so an invalid document
// never unmarshals.
func (d *Document) UnmarshalJSON(data []byte) error {
	nd, err := Decode(data)
	if err != nil {
		return err
	}
	*d = nd
	return nil
}

// MarshalJSON writes the fields the document sets as nested JSON objects
// with sorted keys.
func (d Document) MarshalJSON() ([]byte, error) {
	return marshalNested(d.values)
}

func (d *Document) decodeField(s *schema, path string, raw json.RawMessage, errs *FieldErrors) error {
	if isNull(raw) {
		return nil
	}
	if s.groups[path] {
		return walkObject(raw, path, false, func(p string, r json.RawMessage) error {
			return d.decodeField(s, p, r, errs)
		}, errs)
	}
	i, ok := s.byPath[path]
	if !ok {
		*errs = append(*errs, FieldError{Path: path, Message: "unknown field"})
		return nil
	}
	v, msg, err := decodeValue(s.specs[i].Kind, path, raw)
	if err != nil {
		return err
	}
	if msg != "" {
		*errs = append(*errs, FieldError{Path: path, Message: msg})
		return nil
	}
	d.values[path] = v
	return nil
}

// walkObject calls fn for each member of the JSON object in data, with the
// member's path under prefix. A value that is not an object, a duplicate
// key, an empty key or, unless dotted, a key that holds a dot is a field
// error; a JSON syntax
// error or trailing data is returned.
func walkObject(data []byte, prefix string, dotted bool, fn func(path string, raw json.RawMessage) error, errs *FieldErrors) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("at %s: %w", where(prefix), err)
	}
	if tok != json.Delim('{') {
		*errs = append(*errs, FieldError{Path: prefix, Message: "must be an object"})
		return nil
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("at %s: %w", where(prefix), err)
		}
		key, _ := tok.(string) // dec.Token only returns strings for object keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("at %s: %w", where(join(prefix, key)), err)
		}
		path := join(prefix, key)
		switch {
		case key == "" || (!dotted && strings.Contains(key, ".")):
			*errs = append(*errs, FieldError{Path: path, Message: "unknown field"})
		case seen[key]:
			*errs = append(*errs, FieldError{Path: path, Message: "duplicate field"})
		default:
			seen[key] = true
			if err := fn(path, raw); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("at %s: %w", where(prefix), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("at %s: trailing data after object", where(prefix))
	}
	return nil
}

func where(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// decodeValue decodes raw as a value of kind. It returns a message for a
// value of the wrong type and an error for broken JSON.
func decodeValue(kind Kind, path string, raw json.RawMessage) (v any, msg string, err error) {
	switch kind {
	case KindBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, "must be true or false", nil
		}
		return b, "", nil
	case KindInt, KindPercent:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil || !isNumber(raw) {
			return nil, "must be a number", nil
		}
		if kind == KindPercent {
			f, err := strconv.ParseFloat(n.String(), 64)
			if err != nil {
				return nil, "must be a number between 0 and 100", nil
			}
			return f, "", nil
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return nil, "must be a whole number within int64", nil
		}
		return i, "", nil
	case KindDuration:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, `must be a duration string such as "60s" or "5m"`, nil
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Sprintf("invalid duration %q", s), nil
		}
		return dur, "", nil
	case KindSeverity:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, "must be a string", nil
		}
		return Severity(s), "", nil
	case KindMounts:
		return decodeMounts(path, raw)
	case KindChannels:
		var ids []string
		if json.Unmarshal(raw, &ids) != nil || ids == nil {
			return nil, `must be a list of channel IDs, ["all"] or []`, nil
		}
		return ids, "", nil
	case KindText:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, "must be a string", nil
		}
		return s, "", nil
	case KindServices:
		v, msg := decodeList[WatchedService](raw, `services such as {"name": "Spooler", "restart": true, "alert": true}`)
		return v, msg, nil
	case KindLinks:
		v, msg := decodeList[Link](raw, `links such as {"title": "Portal", "url": "https://..."}`)
		return v, msg, nil
	case KindSchedules:
		v, msg := decodeList[ScheduledScript](raw, `schedules such as {"name": "nightly", "script_id": "...", "when": "daily 02:30"}`)
		return v, msg, nil
	}
	return nil, "", fmt.Errorf("field %s has unsupported kind %s", path, kind)
}

// isNumber reports whether raw is a JSON number rather than a string that
// json.Number would also accept.
func isNumber(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9'))
}

func decodeMounts(path string, raw json.RawMessage) (any, string, error) {
	var errs FieldErrors
	m := make(map[string]DiskLimits)
	err := walkObject(raw, path, true, func(mpath string, r json.RawMessage) error {
		if len(m) >= maxMounts {
			errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf("must have at most %d mountpoints", maxMounts)})
			return errStop
		}
		mount := strings.TrimPrefix(mpath, path+".")
		var l DiskLimits
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf("mountpoint %q: %v", mount, err)})
			return nil
		}
		m[mount] = l
		return nil
	}, &errs)
	if err != nil && !errors.Is(err, errStop) {
		return nil, "", err
	}
	if len(errs) > 0 {
		return nil, errs[0].Message, nil
	}
	return m, "", nil
}

var errStop = errors.New("stop")

// jsonValue converts a field value to what encoding/json should write.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Duration:
		return x.String()
	case Severity:
		return string(x)
	case map[string]DiskLimits:
		if x == nil {
			return map[string]DiskLimits{}
		}
	case []string:
		if x == nil {
			return []string{}
		}
	case []WatchedService:
		if x == nil {
			return []WatchedService{}
		}
	case []Link:
		if x == nil {
			return []Link{}
		}
	case []ScheduledScript:
		return cloneValue(x)
	}
	return v
}

// marshalNested writes flat path → value pairs as nested objects.
// encoding/json sorts map keys, which makes the output canonical.
func marshalNested(values map[string]any) ([]byte, error) {
	root := make(map[string]any)
	for path, v := range values {
		parts := strings.Split(path, ".")
		node := root
		for _, p := range parts[:len(parts)-1] {
			child, ok := node[p].(map[string]any)
			if !ok {
				child = make(map[string]any)
				node[p] = child
			}
			node = child
		}
		node[parts[len(parts)-1]] = jsonValue(v)
	}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("marshal policy: %w", err)
	}
	return b, nil
}
