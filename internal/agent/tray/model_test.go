package tray

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    Config
		wantErr bool
	}{
		{name: "missing section", raw: "", want: DefaultConfig()},
		{name: "null", raw: "null", want: DefaultConfig()},
		{name: "empty object keeps defaults", raw: "{}", want: DefaultConfig()},
		{name: "unknown field ignored", raw: `{"colour":"red"}`, want: DefaultConfig()},
		{
			name: "full",
			raw: `{"enabled":false,"company":"Acme IT","support":"+1 555 0100","links":[{"title":"Portal","url":"https://portal.acme.example"}],
				"help_requests":false,"about":false}`,
			want: Config{Company: "Acme IT", Support: "+1 555 0100",
				Links: []Link{{Title: "Portal", URL: "https://portal.acme.example"}}},
		},
		{name: "partial keeps other defaults", raw: `{"help_requests":false}`,
			want: Config{Enabled: true, About: true}},
		{name: "wrong type", raw: `{"enabled":"yes"}`, want: DefaultConfig(), wantErr: true},
		{name: "not json", raw: `{`, want: DefaultConfig(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(json.RawMessage(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseConfig(%q) error %v, want error %v", tt.raw, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseConfig(%q) (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	connected := Status{Connected: true, AgentID: "a1", Hostname: "pc1", Version: "1.2.3"}
	sep := Entry{Kind: KindSeparator}
	help := Entry{Kind: KindHelp, Title: "Request help…"}
	about := Entry{Kind: KindAbout, Title: "About this computer"}
	label := func(s string) Entry { return Entry{Kind: KindLabel, Title: s, Disabled: true} }

	tests := []struct {
		name      string
		st        Status
		statusErr error
		cfg       Config
		want      Model
	}{
		{
			name: "defaults, connected",
			st:   connected, cfg: DefaultConfig(),
			want: Model{Visible: true, State: StateConnected, Title: "Steward", Tooltip: "Steward: Connected",
				Entries: []Entry{label("Steward"), label("Connected"), sep, help, about}},
		},
		{
			name: "agent unreachable disables help",
			st:   Status{}, statusErr: errors.New("dial: no such file"), cfg: DefaultConfig(),
			want: Model{Visible: true, State: StateDisconnected, Title: "Steward",
				Tooltip: "Steward: The Steward agent is not running",
				Entries: []Entry{label("Steward"), label("The Steward agent is not running"), sep,
					{Kind: KindHelp, Title: "Request help…", Disabled: true}, about}},
		},
		{
			name: "not connected to the server keeps help",
			st:   Status{Connected: false}, cfg: Config{Enabled: true, Company: "Acme IT", HelpRequests: true},
			want: Model{Visible: true, State: StateDisconnected, Title: "Acme IT",
				Tooltip: "Acme IT: Not connected to the server",
				Entries: []Entry{label("Acme IT"), label("Not connected to the server"), sep, help}},
		},
		{
			name: "attention",
			st:   Status{Connected: true, Attention: "update failed"}, cfg: Config{Enabled: true},
			want: Model{Visible: true, State: StateAttention, Title: "Steward",
				Tooltip: "Steward: Needs attention: update failed",
				Entries: []Entry{label("Steward"), label("Needs attention: update failed")}},
		},
		{
			name: "reboot pending",
			st: Status{Connected: true, Power: PowerNotice{Action: "reboot", At: time.Date(2026, 12, 4, 22, 30, 0, 0, time.Local),
				Message: "Windows updates\nsave your work", By: "alice"}},
			cfg: Config{Enabled: true},
			want: Model{Visible: true, State: StateAttention, Title: "Steward",
				Tooltip: "Steward: Restart Fri 22:30 by alice: Windows updates save your work",
				Entries: []Entry{label("Steward"), label("Connected"), label("Restart Fri 22:30 by alice"), label("Windows updates save your work")}},
		},
		{
			name: "shutdown pending while disconnected",
			st:   Status{Power: PowerNotice{Action: "shutdown", At: time.Date(2026, 12, 7, 8, 0, 0, 0, time.Local)}},
			cfg:  Config{Enabled: true},
			want: Model{Visible: true, State: StateAttention, Title: "Steward", Tooltip: "Steward: Shut down Mon 08:00",
				Entries: []Entry{label("Steward"), label("Not connected to the server"), label("Shut down Mon 08:00")}},
		},
		{
			name: "disabled by policy",
			st:   connected, cfg: Config{Enabled: false, About: true},
			want: Model{Visible: false, State: StateConnected, Title: "Steward", Tooltip: "Steward: Connected",
				Entries: []Entry{label("Steward"), label("Connected"), sep, about}},
		},
		{
			name: "company, support and links; unsafe links dropped",
			st:   connected,
			cfg: Config{Enabled: true, Company: "  Acme\tIT\n", Support: "+1 555 0100, help@acme.example",
				Links: []Link{
					{Title: "Portal", URL: "https://portal.acme.example/x?y=1"},
					{Title: "Mail us", URL: "mailto:help@acme.example"},
					{Title: "Call", URL: "tel:+15550100"},
					{Title: "", URL: "HTTP://acme.example"},
					{Title: "Evil", URL: "javascript:alert(1)"},
					{Title: "File", URL: "file:///etc/passwd"},
					{Title: "Share", URL: `\\server\share`},
					{Title: "Custom", URL: "ms-settings:display"},
					{Title: "No host", URL: "https:///path"},
					{Title: "Creds", URL: "https://user:pw@acme.example"},
					{Title: "Empty mail", URL: "mailto:"},
					{Title: "Ctl", URL: "https://acme.example/\x00"},
				},
				HelpRequests: true},
			want: Model{Visible: true, State: StateConnected, Title: "Acme IT", Tooltip: "Acme IT: Connected",
				Entries: []Entry{label("Acme IT"), label("Connected"), label("Support: +1 555 0100, help@acme.example"),
					sep,
					{Kind: KindLink, Title: "Portal", URL: "https://portal.acme.example/x?y=1"},
					{Kind: KindLink, Title: "Mail us", URL: "mailto:help@acme.example"},
					{Kind: KindLink, Title: "Call", URL: "tel:+15550100"},
					{Kind: KindLink, Title: "http://acme.example", URL: "http://acme.example"},
					sep, help}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.st, tt.statusErr, tt.cfg)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Build (-want +got):\n%s", diff)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Equal is false for models cmp finds equal")
			}
		})
	}
}

func TestBuildBounds(t *testing.T) {
	var links []Link
	for range 50 {
		links = append(links, Link{Title: strings.Repeat("x", 500), URL: "https://acme.example"})
	}
	m := Build(Status{Connected: true, Attention: strings.Repeat("y", 1000)}, nil,
		Config{Enabled: true, Company: strings.Repeat("é", 300), Links: links})
	var n int
	for _, e := range m.Entries {
		if e.Kind == KindLink {
			n++
		}
		if r := []rune(e.Title); len(r) > maxStatusLen {
			t.Errorf("entry title is %d runes, want at most %d", len(r), maxStatusLen)
		}
	}
	if n != maxLinks {
		t.Errorf("got %d links, want %d", n, maxLinks)
	}
	if r := []rune(m.Title); len(r) != maxTitleLen || !strings.HasSuffix(m.Title, "…") {
		t.Errorf("title is %d runes (%q...), want %d ending in an ellipsis", len(r), string(r[:5]), maxTitleLen)
	}
	if r := []rune(m.Tooltip); len(r) > maxStatusLen {
		t.Errorf("tooltip is %d runes, want at most %d", len(r), maxStatusLen)
	}
}

func TestModelEqual(t *testing.T) {
	a := Build(Status{Connected: true}, nil, DefaultConfig())
	b := Build(Status{Connected: true}, nil, DefaultConfig())
	if !a.Equal(b) {
		t.Fatal("two builds of the same input are not Equal")
	}
	c := Build(Status{Connected: true}, nil, Config{Enabled: true, About: true})
	if a.Equal(c) {
		t.Error("models with different entries are Equal")
	}
	d := Build(Status{}, nil, DefaultConfig())
	if a.Equal(d) {
		t.Error("models with different states are Equal")
	}
}

func FuzzSafeURL(f *testing.F) {
	for _, s := range []string{"https://a.example", "mailto:x@y", "tel:1", "javascript:x", "file:///x", "HTTP://A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, ok := SafeURL(raw)
		if !ok {
			return
		}
		scheme, _, _ := strings.Cut(u, ":")
		switch scheme {
		case "http", "https", "mailto", "tel":
		default:
			t.Fatalf("SafeURL(%q) = %q with scheme %q", raw, u, scheme)
		}
		if again, ok := SafeURL(u); !ok || again != u {
			t.Fatalf("SafeURL(%q) = %q, not stable: %q %v", raw, u, again, ok)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add(`{"enabled":true,"links":[{"title":"a","url":"https://b"}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		c, _ := ParseConfig(json.RawMessage(raw))
		m := Build(Status{}, nil, c)
		for _, e := range m.Entries {
			if e.Kind == KindLink {
				if _, ok := SafeURL(e.URL); !ok {
					t.Fatalf("menu holds unsafe URL %q", e.URL)
				}
			}
		}
	})
}
