package web

import (
	"errors"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
)

func TestScriptDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, ""}, {90 * time.Second, "1m30s"}, {10 * time.Minute, "10m"}, {90 * time.Minute, "1h30m"},
		{2 * time.Hour, "2h"}, {24 * time.Hour, "24h"}, {1500 * time.Millisecond, "1.5s"},
	} {
		got := scriptDuration(c.d)
		if got != c.want {
			t.Errorf("scriptDuration(%v) = %q, want %q", c.d, got, c.want)
		}
		// The timeout field reads it back.
		if back, err := time.ParseDuration(got); got != "" && (err != nil || back != c.d) {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", got, back, err, c.d)
		}
	}
}

func TestScriptFormInput(t *testing.T) {
	for _, c := range []struct {
		name       string
		form       scriptForm
		want       jobs.ScriptInput
		wrongField string
	}{
		{"lists", scriptForm{Args: "a b\r\n\n  \n--x=\"y\"\n", Env: "A=1\nB==2\n C =\n", Timeout: "90s"},
			jobs.ScriptInput{Args: []string{"a b", `--x="y"`}, Env: map[string]string{"A": "1", "B": "=2", "C": ""}, Timeout: 90 * time.Second}, ""},
		{"empty", scriptForm{}, jobs.ScriptInput{Args: []string{}, Env: map[string]string{}}, ""},
		{"env without =", scriptForm{Env: "A=1\n\nB"}, jobs.ScriptInput{}, "env"},
		{"env without a name", scriptForm{Env: "=1"}, jobs.ScriptInput{}, "env"},
		{"env twice", scriptForm{Env: "A=1\nA=2"}, jobs.ScriptInput{}, "env"},
		{"timeout", scriptForm{Timeout: "10 minutes"}, jobs.ScriptInput{}, "timeout"},
		{"negative timeout", scriptForm{Timeout: "-1m"}, jobs.ScriptInput{}, "timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.form.input()
			var inv *input.Error
			switch {
			case c.wrongField != "":
				if !errors.As(err, &inv) || inv.Field != c.wrongField {
					t.Fatalf("input() error %v, want one on %s", err, c.wrongField)
				}
				if c.name == "env without =" && inv.Message != "line 3: write NAME=value" {
					t.Errorf("input() error %q, want it to name line 3", inv.Message)
				}
			case err != nil:
				t.Fatalf("input() error %v", err)
			default:
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("input() (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// FuzzParseImport feeds the import arbitrary files: it must never panic,
// refuse only with an importRefusal, and accept a raw file only as UTF-8
// text within the body limit in the language its extension names.
func FuzzParseImport(f *testing.F) {
	for _, s := range []struct{ name, data string }{
		{"a.sh", "echo hi\n"}, {"fix.PS1", "\ufeffWrite-Output 1\r\n"}, {"x.bat", "@echo off"}, {"x.txt", "hi"},
		{"a.json", `{"name":"n","language":"bash","body":"true","args":["a"],"env":{"A":"1"},"timeout":"10m"}`},
		{"a.json", `{"language":"bash","body":"x","timeout":"forever"}`}, {"a.json", `[]`}, {"a.json", `{"body":1}`},
		{"a.py", "\xff"}, {"", ""}, {"a.json", `{"language":"sh","body":"x"} {}`},
	} {
		f.Add(s.name, []byte(s.data))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		form, err := parseImport(name, data)
		if err != nil {
			var refusal *importRefusal
			if !errors.As(err, &refusal) || refusal.msg == "" {
				t.Fatalf("parseImport(%q) error %v, want an importRefusal with a message", name, err)
			}
			return
		}
		if form.Language == "" || form.Body == "" {
			t.Fatalf("parseImport(%q) accepted a form without language or body: %+v", name, form)
		}
		ext := strings.ToLower(path.Ext(name))
		if ext == ".json" {
			return // the editor's save validates what a JSON export holds
		}
		if form.Language != rawExtensions[ext] || form.Body != string(data) || !utf8.Valid(data) || len(data) > protocol.MaxScriptBodyBytes {
			t.Fatalf("parseImport(%q) accepted %d bytes as %q", name, len(data), form.Language)
		}
	})
}

// FuzzScriptFormInput feeds the editor's list fields arbitrary text: it
// must never panic, and what it accepts has no blank argument line and
// only trimmed, non-empty, distinct environment names.
func FuzzScriptFormInput(f *testing.F) {
	f.Add("a\nb\r\n", "A=1\nB=2", "10m")
	f.Add("", "=", "")
	f.Add("\n\n", "A=1\r\nA=2", "1h30m")
	f.Fuzz(func(t *testing.T, args, env, timeout string) {
		in, err := scriptForm{Args: args, Env: env, Timeout: timeout}.input()
		if err != nil {
			var inv *input.Error
			if !errors.As(err, &inv) {
				t.Fatalf("input() error %v, want an input.Error", err)
			}
			return
		}
		for _, a := range in.Args {
			if strings.TrimSpace(a) == "" || strings.ContainsAny(a, "\n") {
				t.Fatalf("accepted argument %q", a)
			}
		}
		for k := range in.Env {
			if k == "" || k != strings.TrimSpace(k) || strings.Contains(k, "\n") {
				t.Fatalf("accepted environment name %q", k)
			}
		}
		if timeout != "" && in.Timeout <= 0 {
			t.Fatalf("accepted timeout %q as %v", timeout, in.Timeout)
		}
	})
}
