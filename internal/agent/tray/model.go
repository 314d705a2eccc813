package tray

import (
	"net/url"
	"strings"
	"unicode"
)

// State is what the icon shows.
type State int

// The icon's states.
const (
	StateDisconnected State = iota // the agent is unreachable or not connected to its server
	StateConnected                 // the agent is connected and nothing needs attention
	StateAttention                 // the agent is connected but reports something wrong
)

func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateAttention:
		return "attention"
	default:
		return "disconnected"
	}
}

// Kind is what a menu entry does.
type Kind int

// Menu entry kinds.
const (
	KindLabel     Kind = iota // text only, not clickable
	KindSeparator             // a line between groups
	KindLink                  // opens Entry.URL in the user's browser
	KindHelp                  // opens the "Request help" page
	KindAbout                 // opens the "About this computer" page
)

// Entry is one line of the menu.
type Entry struct {
	Kind     Kind
	Title    string
	URL      string // KindLink only
	Disabled bool
}

// Model is everything the tray shows, computed from the agent's status and
// the tray section; the UI redraws when it changes.
type Model struct {
	Visible bool // false when the policy turns the icon off
	State   State
	Title   string // the company name, or "Steward"
	Tooltip string
	Entries []Entry
}

// Equal reports whether m and o draw the same tray.
func (m Model) Equal(o Model) bool {
	if m.Visible != o.Visible || m.State != o.State || m.Title != o.Title || m.Tooltip != o.Tooltip ||
		len(m.Entries) != len(o.Entries) {
		return false
	}
	for i := range m.Entries {
		if m.Entries[i] != o.Entries[i] {
			return false
		}
	}
	return true
}

// Bounds on what a policy can put into the menu, so that a long text or a
// long list cannot make the menu unusable.
const (
	maxLinks     = 20
	maxTitleLen  = 60  // runes, for menu entries
	maxStatusLen = 120 // runes, for the tooltip and the status line
)

// Build computes the tray for the agent's status (statusErr: the agent
// could not be asked) and the tray section.
func Build(st Status, statusErr error, cfg Config) Model {
	m := Model{Visible: cfg.Enabled, Title: "Steward"}
	if c := clean(cfg.Company, maxTitleLen); c != "" {
		m.Title = c
	}
	var line string
	switch {
	case statusErr != nil:
		m.State, line = StateDisconnected, "The Steward agent is not running"
	case !st.Connected:
		m.State, line = StateDisconnected, "Not connected to the server"
	case strings.TrimSpace(st.Attention) != "":
		m.State, line = StateAttention, clean("Needs attention: "+st.Attention, maxStatusLen)
	default:
		m.State, line = StateConnected, "Connected"
	}
	m.Tooltip = clean(m.Title+": "+line, maxStatusLen)

	m.Entries = append(m.Entries,
		Entry{Kind: KindLabel, Title: m.Title, Disabled: true},
		Entry{Kind: KindLabel, Title: line, Disabled: true})
	if p := st.Power; statusErr == nil && p.Action != "" {
		// The user must see it coming whatever else the icon says.
		notice := powerLine(p)
		m.State = StateAttention
		m.Tooltip = clean(m.Title+": "+notice+messageSuffix(p.Message), maxStatusLen)
		m.Entries = append(m.Entries, Entry{Kind: KindLabel, Title: clean(notice, maxStatusLen), Disabled: true})
		if msg := clean(p.Message, maxStatusLen); msg != "" {
			m.Entries = append(m.Entries, Entry{Kind: KindLabel, Title: msg, Disabled: true})
		}
	}
	if s := clean(cfg.Support, maxTitleLen); s != "" {
		m.Entries = append(m.Entries, Entry{Kind: KindLabel, Title: "Support: " + s, Disabled: true})
	}

	var links []Entry
	for _, l := range cfg.Links {
		if len(links) == maxLinks {
			break
		}
		u, ok := SafeURL(l.URL)
		if !ok {
			continue
		}
		title := clean(l.Title, maxTitleLen)
		if title == "" {
			title = clean(u, maxTitleLen)
		}
		links = append(links, Entry{Kind: KindLink, Title: title, URL: u})
	}
	if len(links) > 0 {
		m.Entries = append(m.Entries, Entry{Kind: KindSeparator})
		m.Entries = append(m.Entries, links...)
	}

	if cfg.HelpRequests || cfg.About {
		m.Entries = append(m.Entries, Entry{Kind: KindSeparator})
	}
	if cfg.HelpRequests {
		// The agent keeps a request until the server acknowledges it, so
		// only an unreachable agent makes asking pointless.
		m.Entries = append(m.Entries, Entry{Kind: KindHelp, Title: "Request help…", Disabled: statusErr != nil})
	}
	if cfg.About {
		m.Entries = append(m.Entries, Entry{Kind: KindAbout, Title: "About this computer"})
	}
	return m
}

// SafeURL returns u normalized when the tray may open it: http and https
// with a host, mailto and tel with an address. Anything else (file:,
// javascript:, a custom protocol handler) could run something on the
// user's machine through the browser or the shell, so it is refused.
func SafeURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 2048 || strings.ContainsFunc(raw, unicode.IsControl) {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" || u.User != nil {
			return "", false
		}
	case "mailto", "tel":
		if u.Opaque == "" {
			return "", false
		}
	default:
		return "", false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u.String(), true
}

// clean makes policy text fit for one menu line: control characters and
// runs of spaces become one space, and it is cut to limit runes.
func clean(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-1]) + "…"
	}
	return s
}

// powerLine tells the user what will happen and when, in the tray's local
// time: "Restart Fri 22:30 by alice".
func powerLine(p PowerNotice) string {
	what := "Shut down"
	if p.Action == "reboot" {
		what = "Restart"
	}
	line := what + " " + p.At.Local().Format("Mon 15:04")
	if by := clean(p.By, maxTitleLen); by != "" {
		line += " by " + by
	}
	return line
}

func messageSuffix(msg string) string {
	if msg = strings.TrimSpace(msg); msg != "" {
		return ": " + msg
	}
	return ""
}
