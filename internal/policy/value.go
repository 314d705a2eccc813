package policy

import (
	"encoding/json"
	"fmt"
)

// MarshalValue writes one field's value as a document's JSON holds it,
// e.g. "60s" for a KindDuration, so that a form can show and edit a
// field of any kind as JSON text.
func MarshalValue(v any) ([]byte, error) {
	b, err := json.Marshal(jsonValue(v))
	if err != nil {
		return nil, fmt.Errorf("marshal policy value: %w", err)
	}
	return b, nil
}
