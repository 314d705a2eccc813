package policy

import (
	"testing"
	"time"
)

func TestMarshalValue(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{true, `true`},
		{int64(1 << 30), `1073741824`},
		{87.5, `87.5`},
		{90 * time.Second, `"1m30s"`},
		{SeverityCritical, `"critical"`},
		{map[string]DiskLimits{}, `{}`},
		{map[string]DiskLimits(nil), `{}`},
		{map[string]DiskLimits{"/": {PercentTrigger: 90, PercentClear: 80}},
			`{"/":{"percent_trigger":90,"percent_clear":80,"free_bytes_trigger":0,"free_bytes_clear":0}}`},
	}
	for _, tt := range tests {
		got, err := MarshalValue(tt.v)
		if err != nil {
			t.Fatalf("MarshalValue(%#v): %v", tt.v, err)
		}
		if string(got) != tt.want {
			t.Errorf("MarshalValue(%#v) = %s, want %s", tt.v, got, tt.want)
		}
	}
	// Every built-in default survives a trip through its JSON form.
	for _, sp := range Specs() {
		b, err := MarshalValue(sp.Default)
		if err != nil {
			t.Fatalf("MarshalValue(default of %s): %v", sp.Path, err)
		}
		v, msg, err := decodeValue(sp.Kind, sp.Path, b)
		if err != nil || msg != "" {
			t.Errorf("decode %s default %s: %q, %v", sp.Path, b, msg, err)
			continue
		}
		if again, _ := MarshalValue(v); string(again) != string(b) {
			t.Errorf("%s: %s after a round trip, want %s", sp.Path, again, b)
		}
	}
}
