package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodeActionArgs(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 300)
	tests := []struct {
		name    string
		decode  func(json.RawMessage) error
		args    string
		wantErr string
	}{
		{"end ok", endArgs, `{"pid":42,"name":"sleep"}`, ""},
		{"end tree", endArgs, `{"pid":42,"name":"sleep","tree":true}`, ""},
		{"end no pid", endArgs, `{"name":"sleep"}`, "not a process ID"},
		{"end negative pid", endArgs, `{"pid":-1,"name":"sleep"}`, "not a process ID"},
		{"end no name", endArgs, `{"pid":42}`, "name is required"},
		{"end long name", endArgs, `{"pid":42,"name":"` + long + `"}`, "limit"},
		{"end no args", endArgs, ``, "missing args"},
		{"service ok", serviceArgs, `{"name":"nginx.service","action":"restart"}`, ""},
		{"service bad action", serviceArgs, `{"name":"nginx","action":"reload"}`, "action must be"},
		{"service no name", serviceArgs, `{"action":"stop"}`, "name is required"},
		{"service control char", serviceArgs, `{"name":"a\u0000b","action":"stop"}`, "control characters"},
		{"log default", logArgs, ``, ""},
		{"log ok", logArgs, `{"level":"warning","limit":50}`, ""},
		{"log bad level", logArgs, `{"level":"loud"}`, "level must be"},
		{"log too many", logArgs, `{"limit":1001}`, "limit must be"},
		{"log negative", logArgs, `{"limit":-1}`, "limit must be"},
		{"power reboot now", powerArgs(now), `{"action":"reboot"}`, ""},
		{"power shutdown delay", powerArgs(now), `{"action":"shutdown","delay":"5m","message":"Maintenance\nsave your work"}`, ""},
		{"power at", powerArgs(now), `{"action":"reboot","at":"2026-12-05T02:00:00Z"}`, ""},
		{"power cancel", powerArgs(now), `{"action":"cancel"}`, ""},
		{"power cancel with time", powerArgs(now), `{"action":"cancel","delay":"1m"}`, "cancel takes no time"},
		{"power both", powerArgs(now), `{"action":"reboot","delay":"1m","at":"2026-12-05T02:00:00Z"}`, "either"},
		{"power far", powerArgs(now), `{"action":"reboot","at":"2027-01-05T02:00:00Z"}`, "within"},
		{"power long delay", powerArgs(now), `{"action":"reboot","delay":"200h"}`, "delay must be"},
		{"power hibernate", powerArgs(now), `{"action":"hibernate"}`, "action must be"},
		{"power long message", powerArgs(now), `{"action":"reboot","message":"` + strings.Repeat("m", 513) + `"}`, "limit"},
		{"power escape in message", powerArgs(now), `{"action":"reboot","message":"a\u001bb"}`, "control characters"},
		{"power trailing", powerArgs(now), `{"action":"reboot"}{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(json.RawMessage(tt.args))
			switch {
			case tt.name == "power trailing":
				if err == nil {
					t.Fatal("accepted a second document after the args")
				}
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func endArgs(b json.RawMessage) error     { _, err := DecodeProcessEnd(b); return err }
func serviceArgs(b json.RawMessage) error { _, err := DecodeServiceControl(b); return err }
func logArgs(b json.RawMessage) error     { _, err := DecodeEventLogQuery(b); return err }
func powerArgs(now time.Time) func(json.RawMessage) error {
	return func(b json.RawMessage) error { _, err := DecodePowerRequest(b, now); return err }
}

func TestPowerRequestWhen(t *testing.T) {
	got := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := got.Add(3 * time.Hour)
	if w := (PowerRequest{Action: PowerReboot, Delay: Duration(5 * time.Minute)}).When(got); !w.Equal(got.Add(5 * time.Minute)) {
		t.Fatalf("delay: When = %v", w)
	}
	if w := (PowerRequest{Action: PowerReboot, At: at}).When(got); !w.Equal(at) {
		t.Fatalf("at: When = %v", w)
	}
	if w := (PowerRequest{Action: PowerReboot}).When(got); !w.Equal(got) {
		t.Fatalf("now: When = %v", w)
	}
}

func TestEventLogQueryDefaults(t *testing.T) {
	var q EventLogQuery
	if q.MinLevel() != LogInfo || q.Count() != DefaultLogEntries {
		t.Fatalf("defaults: level %q count %d", q.MinLevel(), q.Count())
	}
	if LogSeverity(LogCritical) != 0 || LogSeverity(LogError) >= LogSeverity(LogWarning) || LogSeverity("x") != -1 {
		t.Fatal("severities out of order")
	}
}

// FuzzDecodeActionArgs feeds each quick-action decoder the same bytes; an
// accepted request keeps the bounds the agent relies on.
func FuzzDecodeActionArgs(f *testing.F) {
	for _, s := range []string{`{"pid":42,"name":"sleep"}`, `{"name":"sshd","action":"restart"}`,
		`{"level":"error","limit":10}`, `{"action":"reboot","delay":"5m","message":"hi"}`, `{"action":"cancel"}`} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodeProcessEnd(b); err == nil {
			if p.PID <= 0 || p.Name == "" || !utf8.ValidString(p.Name) {
				t.Fatalf("accepted %+v", p)
			}
		}
		if s, err := DecodeServiceControl(b); err == nil {
			if s.Name == "" || len(s.Name) > maxServiceNameBytes || (s.Action != ServiceStart && s.Action != ServiceStop && s.Action != ServiceRestart) {
				t.Fatalf("accepted %+v", s)
			}
		}
		if q, err := DecodeEventLogQuery(b); err == nil {
			if q.Count() < 1 || q.Count() > MaxLogEntries || LogSeverity(q.MinLevel()) < 0 {
				t.Fatalf("accepted %+v", q)
			}
		}
		if p, err := DecodePowerRequest(b, now); err == nil {
			w := p.When(now)
			if w.After(now.Add(MaxPowerDelay)) || len(p.Message) > MaxPowerMessage || !utf8.ValidString(p.Message) {
				t.Fatalf("accepted %+v", p)
			}
			if p.Action != PowerReboot && p.Action != PowerShutdown && p.Action != PowerCancel {
				t.Fatalf("accepted %+v", p)
			}
		}
	})
}
