package web

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/policy"
)

func TestEditorKinds(t *testing.T) {
	future := policy.Kind(99)
	if got := inputKind(future); got != "json" {
		t.Errorf("inputKind(%s) = %q, want json", future, got)
	}
	for _, tt := range []struct {
		kind    policy.Kind
		in      string
		want    string // the JSON the value encodes to
		wantMsg string
	}{
		{future, ` [{"to": "ops@example.com"}] `, `[{"to":"ops@example.com"}]`, ""},
		{future, `[{"to": `, "", "must be valid JSON"},
		{policy.KindMounts, `{"/": {"percent_trigger": 90}}`, `{"/":{"percent_trigger":90}}`, ""},
		{policy.KindInt, " 12 ", `12`, ""},
		{policy.KindInt, "1.5", `"1.5"`, ""}, // left for the policy package to refuse
		{policy.KindPercent, "87.50", `87.5`, ""},
		{policy.KindPercent, "NaN", `"NaN"`, ""},
		{policy.KindDuration, "5m", `"5m"`, ""},
		{policy.KindBool, "true", `true`, ""},
		{policy.KindBool, "", `false`, ""},
	} {
		v, msg := formJSON(tt.kind, tt.in)
		if msg != tt.wantMsg {
			t.Errorf("formJSON(%s, %q) message %q, want %q", tt.kind, tt.in, msg, tt.wantMsg)
			continue
		}
		if msg != "" {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil || string(b) != tt.want {
			t.Errorf("formJSON(%s, %q) encodes to %s (%v), want %s", tt.kind, tt.in, b, err, tt.want)
		}
	}
	type channel struct {
		To string `json:"to"`
	}
	for _, tt := range []struct {
		v    any
		want string
	}{
		{[]channel{{To: "ops@example.com"}}, `[{"to":"ops@example.com"}]`},
		{5 * 60e9 * time.Nanosecond, "5m"},
		{168 * time.Hour, "7d"},
		{36 * time.Hour, "36h"},
		{90 * time.Second, "1m30s"},
		{policy.SeverityWarning, "warning"},
		{int64(1 << 30), "1073741824"},
	} {
		if got := editorValue(tt.v); got != tt.want {
			t.Errorf("editorValue(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func FuzzPolicyForm(f *testing.F) {
	for _, seed := range []string{"5m", "2s", "85.5", "-1", "true", `{"/": {"percent_trigger": 90}}`, `{"/":`, "", "1e400", "NaN"} {
		f.Add(seed)
	}
	specs := policy.Specs()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, sp := range specs {
			form, body, err := readPolicyForm(url.Values{"set." + sp.Path: {"1"}, "v." + sp.Path: {raw}})
			if err != nil {
				t.Fatalf("%s %q: %v", sp.Path, raw, err)
			}
			if form.Errors[sp.Path] != "" {
				continue
			}
			_, err = policy.Decode(body)
			var fes policy.FieldErrors
			if err != nil && !errors.As(err, &fes) {
				t.Errorf("%s %q: decode %s: %v, want field errors or nothing", sp.Path, raw, body, err)
			}
		}
	})
}

func TestSizeInput(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"16 MB", "16777216"}, {"16mb", "16777216"}, {"64 kB", "65536"}, {"1.5 GB", "1610612736"}, {"4096", "4096"}, {"100 bytes", "100"},
		{"-1", "-1"}, {"lots", `"lots"`}, {"", `""`},
	} {
		v, msg := sizeJSON(tt.in)
		b, _ := json.Marshal(v)
		if msg != "" || string(b) != tt.want {
			t.Errorf("sizeJSON(%q) = %s %q, want %s", tt.in, b, msg, tt.want)
		}
	}
	for n, want := range map[int64]string{16 << 20: "16 MB", 64 << 10: "64 kB", 1 << 30: "1 GB", 1000: "1000", 3 << 19: "1536 kB"} {
		if got := sizeInput(n); got != want {
			t.Errorf("sizeInput(%d) = %q, want %q", n, got, want)
		}
	}
}
