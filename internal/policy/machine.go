package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The watchdog and tray sections: what the agent's watchdog watches on the
// machine, and what the tray shows its users.

// WatchedService is one entry of watchdog.services: a service (Windows
// service name, systemd unit) or process the watchdog checks.
type WatchedService struct {
	Name    string `json:"name"`
	Restart bool   `json:"restart"` // start it again when it is not running
	Alert   bool   `json:"alert"`   // raise an alert when it is not running
}

// Link is one entry of tray.links: a menu entry that opens URL.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Bounds of the watchdog and tray fields, so a document stays small and a
// tray menu stays usable.
const (
	maxWatchedServices = 32
	maxServiceNameLen  = 256
	maxLinks           = 10
	maxLinkTitleLen    = 64
	maxLinkURLLen      = 512
	maxTextLen         = 200
)

func addMachineFields(add func(path string, kind Kind, def any, help string, check func(any) string)) {
	add("watchdog.interval", KindDuration, 30*time.Second,
		"How often the watchdog checks the agent and the watched services.", durationRange(10*time.Second, 10*time.Minute))
	add("watchdog.services", KindServices, []WatchedService{},
		`Services or processes the watchdog watches: [{"name": "Spooler", "restart": true, "alert": true}]; replaced as a whole by a more specific level.`, checkServices)

	add("tray.enabled", KindBool, true, "Whether the tray icon is shown to logged-in users.", nil)
	add("tray.company", KindText, "", "Company name shown at the top of the tray menu.", checkText)
	add("tray.support", KindText, "", "Support contact shown in the tray menu (phone, email).", checkText)
	add("tray.links", KindLinks, []Link{},
		`Links in the tray menu: [{"title": "Portal", "url": "https://..."}]; http, https, mailto and tel only.`, checkLinks)
	add("tray.help_requests", KindBool, true, `Whether the tray offers "Request help", which opens a ticket on the agent.`, nil)
	add("tray.about", KindBool, true, `Whether the tray offers "About this computer" (hostname, IP addresses, agent ID).`, nil)
}

// checkText accepts one line of at most maxTextLen bytes.
func checkText(v any) string {
	return lineProblem(v.(string), maxTextLen)
}

// lineProblem says what is wrong with s as one line of text of at most
// limit bytes, or "".
func lineProblem(s string, limit int) string {
	switch {
	case len(s) > limit:
		return fmt.Sprintf("must be at most %d bytes", limit)
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "must be one line without control characters"
	}
	return ""
}

func checkServices(v any) string {
	list := v.([]WatchedService)
	if len(list) > maxWatchedServices {
		return fmt.Sprintf("must have at most %d services", maxWatchedServices)
	}
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		name := strings.TrimSpace(s.Name)
		switch {
		case name == "":
			return "a service name must not be empty"
		case name != s.Name:
			return fmt.Sprintf("service %q has spaces around its name", truncate(s.Name, 40))
		case seen[strings.ToLower(name)]:
			return fmt.Sprintf("service %q is listed twice", truncate(name, 40))
		}
		if msg := lineProblem(name, maxServiceNameLen); msg != "" {
			return fmt.Sprintf("service %q: name %s", truncate(name, 40), msg)
		}
		seen[strings.ToLower(name)] = true
	}
	return ""
}

func checkLinks(v any) string {
	list := v.([]Link)
	if len(list) > maxLinks {
		return fmt.Sprintf("must have at most %d links", maxLinks)
	}
	for _, l := range list {
		if strings.TrimSpace(l.Title) == "" {
			return "a link title must not be empty"
		}
		if msg := lineProblem(l.Title, maxLinkTitleLen); msg != "" {
			return fmt.Sprintf("link %q: title %s", truncate(l.Title, 40), msg)
		}
		if msg := linkURLProblem(l.URL); msg != "" {
			return fmt.Sprintf("link %q: %s", truncate(l.Title, 40), msg)
		}
	}
	return ""
}

// linkURLProblem accepts the URLs a tray may open on a user's desktop:
// web pages, mail and phone numbers, never file: or a program.
func linkURLProblem(raw string) string {
	if len(raw) > maxLinkURLLen {
		return fmt.Sprintf("URL must be at most %d bytes", maxLinkURLLen)
	}
	if lineProblem(raw, maxLinkURLLen) != "" || strings.ContainsAny(raw, " \t") {
		return "URL must be one line without spaces"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "URL is not valid"
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return "URL must name a host"
		}
	case "mailto", "tel":
		if u.Opaque == "" {
			return "URL must say whom to write to or call"
		}
	default:
		return "URL must start with https://, http://, mailto: or tel:"
	}
	return ""
}

// decodeList decodes a JSON array of objects into a list, refusing unknown
// members so that a misspelt "restart" is an error rather than false.
func decodeList[T any](raw json.RawMessage, what string) (any, string) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' {
		return nil, "must be a list of " + what
	}
	var list []T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Sprintf("must be a list of %s: %v", what, err)
	}
	if list == nil {
		list = []T{}
	}
	return list, ""
}
