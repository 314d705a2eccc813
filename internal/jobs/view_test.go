package jobs

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\n", "plain\n"},
		{"tab\tcr\r\n", "tab\tcr\r\n"},
		{"\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"},
		{"bell\x07nul\x00del\x7f", `bell\x07nul\x00del\x7f`},
		{"bad \xff\xfe utf8", "bad \ufffd\ufffd utf8"},
		{"ünïcödé ✓", "ünïcödé ✓"},
		{"cut \xe2\x9c", "cut \ufffd\ufffd"},
	}
	for _, tt := range tests {
		if got := Text([]byte(tt.in)); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestView(t *testing.T) {
	now := time.Now()
	job := store.Job{StartBy: now.Add(time.Hour)}
	expired := store.Job{StartBy: now.Add(-time.Minute)}
	result := func(r protocol.ScriptResult) json.RawMessage {
		b, _ := json.Marshal(r)
		return b
	}
	started := now.Add(-time.Minute)
	tests := []struct {
		name string
		run  store.JobRun
		job  store.Job
		want string
	}{
		{"queued", store.JobRun{State: store.CommandQueued}, job, RunQueued},
		{"queued past its start-by", store.JobRun{State: store.CommandQueued}, expired, RunExpired},
		{"delivered past its start-by may still start", store.JobRun{State: store.CommandSent}, expired, RunQueued},
		{"running", store.JobRun{State: store.CommandSent, StartedAt: started}, job, RunRunning},
		{"succeeded", store.JobRun{State: store.CommandDone, Output: result(protocol.ScriptResult{Status: protocol.ScriptSucceeded, StartedAt: started, FinishedAt: now})}, job, RunSucceeded},
		{"timed out", store.JobRun{State: store.CommandDone, Output: result(protocol.ScriptResult{Status: protocol.ScriptTimedOut, ExitCode: -1, StartedAt: started, FinishedAt: now})}, job, RunTimedOut},
		{"expired on the agent", store.JobRun{State: store.CommandDone, Output: result(protocol.ScriptResult{Status: protocol.ScriptExpired, FinishedAt: now})}, job, RunExpired},
		{"bad result", store.JobRun{State: store.CommandDone, Output: json.RawMessage(`{`)}, job, RunFailed},
		{"could not start", store.JobRun{State: store.CommandFailed, ResultStatus: protocol.ResultError, Error: "no zsh on this machine"}, job, RunFailed},
		{"old agent", store.JobRun{State: store.CommandFailed, ResultStatus: protocol.ResultUnsupported}, job, RunFailed},
		{"expired unstarted", store.JobRun{State: store.CommandExpired}, job, RunExpired},
		{"lost after its start", store.JobRun{State: store.CommandExpired, StartedAt: started}, job, RunFailed},
		{"cancelled", store.JobRun{State: store.CommandCancelled}, job, RunCancelled},
	}
	for _, tt := range tests {
		v := View(tt.run, tt.job, now)
		if v.Status != tt.want {
			t.Errorf("%s: status %q, want %q", tt.name, v.Status, tt.want)
		}
		if v.Status == RunFailed && v.Error == "" && tt.run.State != store.CommandDone {
			t.Errorf("%s: failed without a reason", tt.name)
		}
		if tt.want == RunSucceeded && (v.ExitCode == nil || *v.ExitCode != 0 || v.DurationMS != time.Minute.Milliseconds()) {
			t.Errorf("%s: exit code %v, duration %d", tt.name, v.ExitCode, v.DurationMS)
		}
	}
}

func TestFieldOf(t *testing.T) {
	for _, tt := range []struct{ msg, want string }{
		{"language \"perl\" is not one of", "language"},
		{"argument 2: contains a NUL byte", "args"},
		{"environment variable name \"1A\"", "env"},
		{"timeout must be between", "timeout"},
		{"sha256 does not match the body", "body"},
		{"the script and its arguments take 70000 bytes once encoded", "body"},
	} {
		if got := fieldOf(errors.New(tt.msg)); got != tt.want {
			t.Errorf("fieldOf(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}
