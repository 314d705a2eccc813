package protocol

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeWatchdogReport(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"running", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"running","since":"2026-12-03T09:00:00Z","restarts":0}}`, ""},
		{"down with services", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"down","reason":"exit status 2","since":"2026-12-03T09:00:00Z","restarts":3},"services":[{"name":"Spooler","state":"restart_failed","reason":"access denied","alert":true}]}`, ""},
		{"no time", `{"agent":{"state":"running","since":"2026-12-03T09:00:00Z"}}`, "at is required"},
		{"unknown state", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"sleepy","since":"2026-12-03T09:00:00Z"}}`, "is not one of"},
		{"negative restarts", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"down","since":"2026-12-03T09:00:00Z","restarts":-1}}`, "negative"},
		{"blank service", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"running","since":"2026-12-03T09:00:00Z"},"services":[{"name":" ","state":"running"}]}`, "service name is required"},
		{"unknown service state", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"running","since":"2026-12-03T09:00:00Z"},"services":[{"name":"x","state":"maybe"}]}`, "is not known"},
		{"control in reason", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"down","reason":"a\u0007b","since":"2026-12-03T09:00:00Z"}}`, "control characters"},
		{"trailing", `{"at":"2026-12-03T10:00:00Z","agent":{"state":"running","since":"2026-12-03T09:00:00Z"}} {}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeWatchdogReport([]byte(tt.body))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	many := `{"at":"2026-12-03T10:00:00Z","agent":{"state":"running","since":"2026-12-03T09:00:00Z"},"services":[` +
		strings.Repeat(`{"name":"s","state":"running"},`, MaxWatchedServices) + `{"name":"s","state":"running"}]}`
	if _, err := DecodeWatchdogReport([]byte(many)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("%d services: err = %v, want a limit error", MaxWatchedServices+1, err)
	}
}

func TestDecodeHelpRequest(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"ok", `{"id":"h-1","user":"CORP\\alice","message":"Outlook will not open.\nSince this morning.","at":"2026-12-03T10:00:00Z"}`, ""},
		{"no id", `{"user":"alice","message":"x","at":"2026-12-03T10:00:00Z"}`, "id is required"},
		{"blank message", `{"id":"h","user":"alice","message":"  \n","at":"2026-12-03T10:00:00Z"}`, "message is required"},
		{"no user", `{"id":"h","message":"x","at":"2026-12-03T10:00:00Z"}`, "user is required"},
		{"no time", `{"id":"h","user":"alice","message":"x"}`, "at is required"},
		{"escape in message", `{"id":"h","user":"alice","message":"\u001b[31mred","at":"2026-12-03T10:00:00Z"}`, "control characters"},
		{"long message", `{"id":"h","user":"alice","message":"` + strings.Repeat("x", MaxHelpMessageLen+1) + `","at":"2026-12-03T10:00:00Z"}`, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeHelpRequest([]byte(tt.body))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeUninstall(t *testing.T) {
	if u, err := DecodeUninstall(nil); err != nil || u.Reason != "" {
		t.Fatalf("empty body: %+v, %v", u, err)
	}
	if u, err := DecodeUninstall([]byte(`{"reason":"msiexec /x"}`)); err != nil || u.Reason != "msiexec /x" {
		t.Fatalf("reason: %+v, %v", u, err)
	}
	if _, err := DecodeUninstall([]byte(`{"reason":"` + strings.Repeat("r", MaxReasonLen+1) + `"}`)); err == nil {
		t.Fatal("accepted an over-long reason")
	}
}

// checkMachineText fails unless s is what checkLongText promises.
func checkMachineText(t *testing.T, s string, limit int, multiline bool) {
	t.Helper()
	if len(s) > limit || !utf8.ValidString(s) {
		t.Fatalf("accepted text of %d bytes (limit %d) or invalid UTF-8: %q", len(s), limit, s)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			t.Fatalf("accepted text with control character %U: %q", r, s)
		}
	}
}

func FuzzDecodeWatchdogReport(f *testing.F) {
	f.Add(`{"at":"2026-12-03T10:00:00Z","agent":{"state":"down","reason":"exit status 2","since":"2026-12-03T09:00:00Z","restarts":3},"services":[{"name":"Spooler","state":"restart_failed","alert":true}]}`)
	f.Add(`{"at":"2026-12-03T10:00:00Z","agent":{"state":"running","since":"0001-01-01T00:00:00Z"}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		r, err := DecodeWatchdogReport([]byte(body))
		if err != nil {
			return
		}
		if r.At.IsZero() || r.Agent.Restarts < 0 || len(r.Services) > MaxWatchedServices {
			t.Fatalf("accepted %+v", r)
		}
		checkMachineText(t, r.Agent.Reason, MaxReasonLen, false)
		for _, s := range r.Services {
			if strings.TrimSpace(s.Name) == "" {
				t.Fatalf("accepted a blank service name")
			}
			checkMachineText(t, s.Name, MaxFieldLen, false)
			checkMachineText(t, s.Reason, MaxReasonLen, false)
		}
	})
}

func FuzzDecodeHelpRequest(f *testing.F) {
	f.Add(`{"id":"h-1","user":"alice","message":"help\nplease","at":"2026-12-03T10:00:00Z"}`)
	f.Add(`{"id":"","user":"","message":"","at":""}`)
	f.Fuzz(func(t *testing.T, body string) {
		h, err := DecodeHelpRequest([]byte(body))
		if err != nil {
			return
		}
		checkTokenInvariant(t, "id", h.ID, maxIDLen)
		checkMachineText(t, h.User, MaxFieldLen, false)
		checkMachineText(t, h.Message, MaxHelpMessageLen, true)
		if strings.TrimSpace(h.Message) == "" || strings.TrimSpace(h.User) == "" || h.At.IsZero() {
			t.Fatalf("accepted %+v", h)
		}
	})
}

func FuzzDecodeUninstall(f *testing.F) {
	f.Add(`{"reason":"steward-agent uninstall"}`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		u, err := DecodeUninstall([]byte(body))
		if err != nil {
			return
		}
		checkMachineText(t, u.Reason, MaxReasonLen, false)
	})
}
