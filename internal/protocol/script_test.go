package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validRun() ScriptRun {
	body := "echo \"$@\"\n"
	return ScriptRun{Language: LangBash, Body: body, SHA256: ScriptSHA256(body), Timeout: Duration(time.Minute),
		Args: []string{`a "quoted" arg; rm -rf /`, "ünïcödé", ""}, Env: map[string]string{"FOO_1": "x y"}}
}

func TestScriptRunValidate(t *testing.T) {
	big := strings.Repeat("\x01", MaxScriptBodyBytes) // 6 bytes each once escaped
	tests := []struct {
		name string
		edit func(*ScriptRun)
		want string // "" = valid
	}{
		{"valid", func(*ScriptRun) {}, ""},
		{"run as user", func(r *ScriptRun) { r.RunAs = RunAsUser }, ""},
		{"unknown language", func(r *ScriptRun) { r.Language = "perl" }, "language"},
		{"empty body", func(r *ScriptRun) { r.Body, r.SHA256 = "", ScriptSHA256("") }, "empty"},
		{"hash mismatch", func(r *ScriptRun) { r.Body += "x" }, "sha256"},
		{"body too large", func(r *ScriptRun) {
			r.Body = strings.Repeat("x", MaxScriptBodyBytes+1)
			r.SHA256 = ScriptSHA256(r.Body)
		}, "body is"},
		{"escaped body too large", func(r *ScriptRun) { r.Body, r.SHA256 = big, ScriptSHA256(big) }, "once encoded"},
		{"NUL in argument", func(r *ScriptRun) { r.Args = []string{"a\x00b"} }, "NUL"},
		{"too many arguments", func(r *ScriptRun) { r.Args = make([]string, MaxScriptArgs+1) }, "arguments"},
		{"argument too long", func(r *ScriptRun) { r.Args = []string{strings.Repeat("a", MaxScriptArgBytes+1)} }, "argument 1"},
		{"arguments too long together", func(r *ScriptRun) {
			r.Args = []string{strings.Repeat("a", 4000), strings.Repeat("a", 4000), strings.Repeat("a", 4000), strings.Repeat("a", 4000)}
		}, "arguments and environment"},
		{"bad env name", func(r *ScriptRun) { r.Env = map[string]string{"A=B": "x"} }, "environment variable name"},
		{"env name with digit first", func(r *ScriptRun) { r.Env = map[string]string{"1A": "x"} }, "environment variable name"},
		{"NUL in env", func(r *ScriptRun) { r.Env = map[string]string{"A": "\x00"} }, "NUL"},
		{"no timeout", func(r *ScriptRun) { r.Timeout = 0 }, "timeout"},
		{"timeout too long", func(r *ScriptRun) { r.Timeout = Duration(25 * time.Hour) }, "timeout"},
		{"bad run_as", func(r *ScriptRun) { r.RunAs = "admin" }, "run_as"},
		{"output cap too large", func(r *ScriptRun) { r.MaxOutput = MaxScriptOutput + 1 }, "max_output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRun()
			tt.edit(&r)
			err := r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestScriptRunRoundTrip(t *testing.T) {
	r := validRun()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeScriptRun(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Args {
		if got.Args[i] != r.Args[i] {
			t.Errorf("argument %d = %q, want %q", i, got.Args[i], r.Args[i])
		}
	}
	if got.OutputCap() != DefaultScriptOutput {
		t.Errorf("OutputCap = %d", got.OutputCap())
	}
	if _, err := DecodeScriptRun([]byte(`{"language":"bash"}{}`)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestScriptMessages(t *testing.T) {
	now := time.Now().UTC()
	out, _ := json.Marshal(ScriptOutput{CommandID: "c1", Stream: StreamStderr, Offset: 10, Data: []byte{0xff, 0xfe, 'x'}})
	o, err := DecodeScriptOutput(out)
	if err != nil || string(o.Data) != "\xff\xfex" || o.Offset != 10 {
		t.Fatalf("DecodeScriptOutput = %+v, %v", o, err)
	}
	for _, bad := range []string{
		`{"command_id":"c1","stream":"stdin","offset":0,"data":"eA=="}`,
		`{"command_id":"","stream":"stdout","offset":0,"data":"eA=="}`,
		`{"command_id":"c1","stream":"stdout","offset":-1,"data":"eA=="}`,
		`{"command_id":"c1","stream":"stdout","offset":16777216,"data":"eA=="}`,
		`{"command_id":"c1","stream":"stdout","offset":0,"data":""}`,
		`{"command_id":"c 1","stream":"stdout","offset":0,"data":"eA=="}`,
	} {
		if _, err := DecodeScriptOutput([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	res, _ := json.Marshal(ScriptResult{Status: ScriptTimedOut, ExitCode: -1, StartedAt: now, FinishedAt: now.Add(time.Second),
		Stdout: ScriptStream{Bytes: 5}, Stderr: ScriptStream{Bytes: 1 << 20, Truncated: true}, Error: "timed out after 1s"})
	if _, err := DecodeScriptResult(res); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []ScriptResult{
		{Status: "done", StartedAt: now, FinishedAt: now},
		{Status: ScriptSucceeded},
		{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now.Add(-time.Second)},
		{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now, Stdout: ScriptStream{Bytes: -1}},
		{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now, Error: "\x1b[31m"},
		{Status: ScriptExpired, StartedAt: now, FinishedAt: now},
		{Status: ScriptExpired, FinishedAt: now, Stdout: ScriptStream{Bytes: 1}},
		{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now, Inline: true, Stdout: ScriptStream{Bytes: 4, Data: []byte("abc")}},
		{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now, Inline: true, Stdout: ScriptStream{Bytes: MaxInlineOutput + 1, Data: make([]byte, MaxInlineOutput+1)}},
		{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now, Stdout: ScriptStream{Bytes: 3, Data: []byte("abc")}},
	} {
		b, _ := json.Marshal(bad)
		if _, err := DecodeScriptResult(b); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
	inline, _ := json.Marshal(ScriptResult{Status: ScriptSucceeded, StartedAt: now, FinishedAt: now, Inline: true,
		Stdout: ScriptStream{Bytes: 3, Data: []byte("hi\n")}})
	if r, err := DecodeScriptResult(inline); err != nil || !r.Inline || string(r.Stdout.Data) != "hi\n" {
		t.Errorf("inline output: %+v, %v", r, err)
	}
	exp, _ := json.Marshal(ScriptResult{Status: ScriptExpired, FinishedAt: now, Error: "not started before its expiry"})
	if _, err := DecodeScriptResult(exp); err != nil {
		t.Errorf("an expired run: %v", err)
	}
	if _, err := DecodeScriptStarted([]byte(`{"command_id":"c1","started_at":"0001-01-01T00:00:00Z"}`)); err == nil {
		t.Error("accepted a start without a time")
	}
	if _, err := DecodeScriptKill([]byte(`{"command_id":""}`)); err == nil {
		t.Error("accepted a kill without a command")
	}
	if _, err := DecodeScriptOutputRequest([]byte(`{"command_id":"c1","stream":"stdout","offset":-5}`)); err == nil {
		t.Error("accepted a negative offset")
	}
}

func FuzzDecodeScriptRun(f *testing.F) {
	b, _ := json.Marshal(validRun())
	f.Add(b)
	f.Add([]byte(`{"language":"cmd","body":"x","sha256":"","timeout":"1s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeScriptRun(data)
		if err != nil {
			return
		}
		if r.Body == "" || len(r.Body) > MaxScriptBodyBytes || ScriptSHA256(r.Body) != r.SHA256 || !ValidLanguage(r.Language) {
			t.Fatalf("accepted %+v", r)
		}
		for _, a := range r.Args {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("accepted a NUL argument")
			}
		}
		if enc, _ := json.Marshal(r); len(enc) > maxScriptRunJSON {
			t.Fatalf("accepted %d encoded bytes", len(enc))
		}
	})
}

func FuzzDecodeScriptOutput(f *testing.F) {
	f.Add([]byte(`{"command_id":"c1","stream":"stdout","offset":0,"data":"eA=="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeScriptOutput(data)
		if err != nil {
			return
		}
		checkTokenInvariant(t, "command_id", o.CommandID, maxIDLen)
		if len(o.Data) == 0 || len(o.Data) > MaxScriptChunk || o.Offset < 0 || o.Offset+int64(len(o.Data)) > MaxScriptOutput {
			t.Fatalf("accepted %+v", o)
		}
	})
}

func FuzzDecodeScriptResult(f *testing.F) {
	f.Add([]byte(`{"status":"succeeded","exit_code":0,"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z","stdout":{"bytes":3},"stderr":{"bytes":0}}`))
	f.Add([]byte(`{"status":"succeeded","exit_code":0,"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z","stdout":{"bytes":3,"data":"aGkK"},"stderr":{"bytes":0},"inline":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeScriptResult(data)
		if err != nil {
			return
		}
		if r.Status != ScriptExpired && (r.StartedAt.IsZero() || r.FinishedAt.Before(r.StartedAt)) || r.Stdout.Bytes < 0 || r.Stderr.Bytes > MaxScriptOutput {
			t.Fatalf("accepted %+v", r)
		}
		for _, s := range []ScriptStream{r.Stdout, r.Stderr} {
			if r.Inline && (int64(len(s.Data)) != s.Bytes || len(s.Data) > MaxInlineOutput) || !r.Inline && len(s.Data) > 0 {
				t.Fatalf("accepted inline data of %d bytes for a stream of %d", len(s.Data), s.Bytes)
			}
		}
	})
}

func FuzzDecodeScriptSmall(f *testing.F) {
	f.Add(uint8(0), []byte(`{"command_id":"c1","started_at":"2026-01-01T00:00:00Z"}`))
	f.Add(uint8(1), []byte(`{"command_id":"c1"}`))
	f.Add(uint8(2), []byte(`{"command_id":"c1","stream":"stderr","offset":3}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		var id string
		switch which % 3 {
		case 0:
			s, err := DecodeScriptStarted(data)
			if err != nil {
				return
			}
			if s.StartedAt.IsZero() {
				t.Fatal("accepted a zero start")
			}
			id = s.CommandID
		case 1:
			k, err := DecodeScriptKill(data)
			if err != nil {
				return
			}
			id = k.CommandID
		case 2:
			r, err := DecodeScriptOutputRequest(data)
			if err != nil {
				return
			}
			if r.Offset < 0 || r.Offset > MaxScriptOutput || (r.Stream != StreamStdout && r.Stream != StreamStderr) {
				t.Fatalf("accepted %+v", r)
			}
			id = r.CommandID
		}
		checkTokenInvariant(t, "command_id", id, maxIDLen)
	})
}
