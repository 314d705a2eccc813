package tray

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Config is the policy's "tray" section.
type Config struct {
	Enabled      bool   `json:"enabled"`       // show the icon at all
	Company      string `json:"company"`       // menu header; "Steward" when empty
	Support      string `json:"support"`       // how to reach support, shown as text
	Links        []Link `json:"links"`         // custom links opened in the browser
	HelpRequests bool   `json:"help_requests"` // offer "Request help"
	About        bool   `json:"about"`         // offer "About this computer"
}

// Link is a custom menu entry that opens URL.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// DefaultConfig is the tray section of a policy that has none.
func DefaultConfig() Config {
	return Config{Enabled: true, HelpRequests: true, About: true}
}

// ParseConfig decodes a tray section over the defaults, so that a missing
// section or field keeps its default: an agent may hold a policy written
// before the section existed. Unknown fields are ignored for the same
// reason in the other direction (a newer server).
func ParseConfig(raw json.RawMessage) (Config, error) {
	c := DefaultConfig()
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return c, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return DefaultConfig(), fmt.Errorf("decode tray section: %w", err)
	}
	return c, nil
}
