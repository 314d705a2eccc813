package watchdog

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

func TestParsePolicy(t *testing.T) {
	many := make([]string, protocol.MaxWatchedServices+5)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name":"svc%d"}`, i)
	}
	tests := []struct {
		name string
		doc  string
		want Policy
	}{
		{"no document", ``, Policy{Interval: DefaultInterval}},
		{"not JSON", `{"watchdog":`, Policy{Interval: DefaultInterval}},
		{"no section", `{"metrics":{"interval":"1m"}}`, Policy{Interval: DefaultInterval}},
		{"full", `{"watchdog":{"interval":"45s","services":[{"name":"Spooler","restart":true,"alert":true},{"name":"sshd"}]}}`,
			Policy{Interval: 45 * time.Second, Services: []Service{{Name: "Spooler", Restart: true, Alert: true}, {Name: "sshd"}}}},
		{"interval too short", `{"watchdog":{"interval":"1s"}}`, Policy{Interval: MinInterval}},
		{"interval too long", `{"watchdog":{"interval":"2h"}}`, Policy{Interval: MaxInterval}},
		{"interval not a duration", `{"watchdog":{"interval":30}}`, Policy{Interval: DefaultInterval}},
		{"bad entries skipped", `{"watchdog":{"services":[{"name":""},{"name":"  "},{"name":"a\u0000b"},{"name":5},"x",{"name":" nginx "},{"name":"nginx","restart":true}]}}`,
			Policy{Interval: DefaultInterval, Services: []Service{{Name: "nginx"}}}},
		{"services not a list", `{"watchdog":{"interval":"20s","services":{"name":"x"}}}`, Policy{Interval: 20 * time.Second}},
		{"name too long", `{"watchdog":{"services":[{"name":"` + strings.Repeat("x", protocol.MaxFieldLen+1) + `"}]}}`, Policy{Interval: DefaultInterval}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParsePolicy(json.RawMessage(tt.doc))); diff != "" {
				t.Errorf("ParsePolicy(%q) (-want +got):\n%s", tt.doc, diff)
			}
		})
	}
	t.Run("too many services", func(t *testing.T) {
		p := ParsePolicy(json.RawMessage(`{"watchdog":{"services":[` + strings.Join(many, ",") + `]}}`))
		if len(p.Services) != protocol.MaxWatchedServices {
			t.Errorf("%d services, want %d", len(p.Services), protocol.MaxWatchedServices)
		}
	})
}

func TestLoadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), config.PolicyFile)
	if got := LoadPolicy(path); got.Interval != DefaultInterval || got.Services != nil {
		t.Errorf("LoadPolicy of a missing file = %+v, want the defaults", got)
	}
	doc := `{"watchdog":{"interval":"15s","services":[{"name":"cron","restart":true}]}}`
	if err := config.SavePolicy(path, config.Policy{Revision: "r1", Policy: json.RawMessage(doc), AppliedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	want := Policy{Interval: 15 * time.Second, Services: []Service{{Name: "cron", Restart: true}}}
	if diff := cmp.Diff(want, LoadPolicy(path)); diff != "" {
		t.Errorf("LoadPolicy (-want +got):\n%s", diff)
	}
}

// FuzzParsePolicy checks that whatever policy the agent holds, the
// watchdog's interval stays in bounds and the services it would report
// make a report the server accepts.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"watchdog":{"interval":"30s","services":[{"name":"Spooler","restart":true,"alert":true}]}}`))
	f.Add([]byte(`{"watchdog":{"interval":"-5s","services":[{"name":"\u007f"},{"name":"a"},{"name":"a"}]}}`))
	f.Add([]byte(`{"watchdog":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p := ParsePolicy(doc)
		if p.Interval < MinInterval || p.Interval > MaxInterval {
			t.Fatalf("interval %v out of bounds", p.Interval)
		}
		rep := protocol.WatchdogReport{At: time.Now(), Agent: protocol.AgentHealth{State: protocol.AgentRunning}}
		for _, s := range p.Services {
			rep.Services = append(rep.Services, protocol.WatchedService{Name: s.Name, State: protocol.ServiceRunning, Alert: s.Alert})
		}
		if err := rep.Validate(); err != nil {
			t.Fatalf("report from policy %q does not validate: %v", doc, err)
		}
	})
}
