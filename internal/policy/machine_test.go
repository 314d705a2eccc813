package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMachineSectionsDecode(t *testing.T) {
	tests := []struct {
		name, body string
		want       FieldErrors // nil: valid
	}{
		{"watchdog and tray", `{"watchdog": {"interval": "1m", "services": [{"name": "Spooler", "restart": true, "alert": true}, {"name": "nginx.service", "restart": false, "alert": true}]},
			"tray": {"enabled": false, "company": "Acme IT", "support": "+1 555 0100", "help_requests": false, "about": true,
			"links": [{"title": "Portal", "url": "https://portal.acme.example/help"}, {"title": "Mail us", "url": "mailto:help@acme.example"}, {"title": "Call", "url": "tel:+15550100"}]}}`, nil},
		{"empty lists", `{"watchdog": {"services": []}, "tray": {"links": []}}`, nil},
		{"interval too short", `{"watchdog": {"interval": "1s"}}`, FieldErrors{{"watchdog.interval", "must be at least 10s"}}},
		{"services not a list", `{"watchdog": {"services": {"name": "x"}}}`, FieldErrors{{"watchdog.services", `must be a list of services such as {"name": "Spooler", "restart": true, "alert": true}`}}},
		{"misspelt member", `{"watchdog": {"services": [{"name": "x", "restrat": true}]}}`, nil},
		{"blank name", `{"watchdog": {"services": [{"name": "", "restart": true}]}}`, FieldErrors{{"watchdog.services", "a service name must not be empty"}}},
		{"duplicate", `{"watchdog": {"services": [{"name": "Spooler"}, {"name": "spooler"}]}}`, FieldErrors{{"watchdog.services", `service "spooler" is listed twice`}}},
		{"file link", `{"tray": {"links": [{"title": "Evil", "url": "file:///etc/passwd"}]}}`, FieldErrors{{"tray.links", `link "Evil": URL must start with https://, http://, mailto: or tel:`}}},
		{"program link", `{"tray": {"links": [{"title": "Run", "url": "C:\\Windows\\system32\\cmd.exe"}]}}`, FieldErrors{{"tray.links", `link "Run": URL must start with https://, http://, mailto: or tel:`}}},
		{"hostless link", `{"tray": {"links": [{"title": "Portal", "url": "https:///x"}]}}`, FieldErrors{{"tray.links", `link "Portal": URL must name a host`}}},
		{"untitled link", `{"tray": {"links": [{"title": " ", "url": "https://x.example"}]}}`, FieldErrors{{"tray.links", "a link title must not be empty"}}},
		{"company two lines", `{"tray": {"company": "Acme\nIT"}}`, FieldErrors{{"tray.company", "must be one line without control characters"}}},
		{"company long", `{"tray": {"company": "` + strings.Repeat("a", maxTextLen+1) + `"}}`, FieldErrors{{"tray.company", "must be at most 200 bytes"}}},
		{"support a number", `{"tray": {"support": 5550100}}`, FieldErrors{{"tray.support", "must be a string"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body))
			var got FieldErrors
			if err != nil {
				fe, ok := err.(FieldErrors)
				if !ok {
					t.Fatalf("Decode error %v is not FieldErrors", err)
				}
				got = fe
			}
			if tt.name == "misspelt member" {
				// An unknown member is refused rather than read as false.
				if len(got) != 1 || got[0].Path != "watchdog.services" || !strings.Contains(got[0].Message, `unknown field "restrat"`) {
					t.Fatalf("Decode = %v, want an unknown member error", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMachineSectionsCanonical(t *testing.T) {
	var got struct {
		Watchdog struct {
			Interval string           `json:"interval"`
			Services []WatchedService `json:"services"`
		} `json:"watchdog"`
		Tray map[string]any `json:"tray"`
	}
	if err := json.Unmarshal(Resolve().CanonicalJSON(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Watchdog.Interval != "30s" || got.Watchdog.Services == nil || len(got.Watchdog.Services) != 0 {
		t.Errorf("watchdog defaults = %+v, want 30s and an empty list", got.Watchdog)
	}
	want := map[string]any{"enabled": true, "company": "", "support": "", "links": []any{}, "help_requests": true, "about": true}
	if diff := cmp.Diff(want, got.Tray); diff != "" {
		t.Errorf("tray defaults (-want +got):\n%s", diff)
	}

	// A more specific level replaces the whole list, as for mounts.
	site := doc(t, "watchdog.services", []WatchedService{{Name: "Spooler", Restart: true, Alert: true}})
	agent := doc(t, "watchdog.services", []WatchedService{{Name: "nginx", Alert: true}})
	eff := Resolve(Assignment{Level: LevelSite, Document: site}, Assignment{Level: LevelAgent, Document: agent})
	v, _ := eff.Get("watchdog.services")
	if diff := cmp.Diff([]WatchedService{{Name: "nginx", Alert: true}}, v.Value); diff != "" {
		t.Errorf("resolved services (-want +got):\n%s", diff)
	}
}
