package actions

import (
	"bytes"
	"encoding/xml"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/steward-rmm/steward/internal/protocol"
)

// wevtLevel maps a Windows event level to a level: 1 critical, 2 error,
// 3 warning, 4 and 0 (LogAlways) information, 5 verbose.
func wevtLevel(level int) string {
	switch level {
	case 1:
		return protocol.LogCritical
	case 2:
		return protocol.LogError
	case 3:
		return protocol.LogWarning
	case 0, 4:
		return protocol.LogInfo
	}
	return protocol.LogDebug
}

// wevtLevels are the XPath filters of `wevtutil qe /q:` that keep the
// events at least as severe as a level; debug keeps all.
var wevtLevels = map[string]string{
	protocol.LogCritical: "*[System[(Level=1)]]",
	protocol.LogError:    "*[System[(Level=1 or Level=2)]]",
	protocol.LogWarning:  "*[System[(Level=1 or Level=2 or Level=3)]]",
	protocol.LogInfo:     "*[System[(Level=0 or Level=1 or Level=2 or Level=3 or Level=4)]]",
}

// wevtEvent is what is read of one <Event> of `wevtutil qe /f:RenderedXml`.
type wevtEvent struct {
	System struct {
		Provider struct {
			Name string `xml:"Name,attr"`
		}
		EventID     int `xml:"EventID"`
		Level       int `xml:"Level"`
		TimeCreated struct {
			SystemTime string `xml:"SystemTime,attr"`
		}
	}
	Data    []string `xml:"EventData>Data"`
	Message string   `xml:"RenderingInfo>Message"`
}

// parseWevtutil reads `wevtutil qe System /rd:true /f:RenderedXml`:
// <Event> elements one after another without a root, in UTF-8 or (from
// some consoles) UTF-16. It keeps at most limit events at least as severe
// as minLevel, in the order read; an event that does not decode ends the
// reading (XML cannot be resynchronised) with what was read so far.
func parseWevtutil(out []byte, minLevel string, limit int) []protocol.LogEntry {
	out = fromUTF16(out)
	maxSeverity := protocol.LogSeverity(minLevel)
	entries := []protocol.LogEntry{}
	d := xml.NewDecoder(bytes.NewReader(out))
	d.Strict = false
	for len(entries) < limit {
		tok, err := d.Token()
		if err != nil {
			break
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "Event" {
			continue
		}
		var ev wevtEvent
		if err := d.DecodeElement(&ev, &start); err != nil {
			break
		}
		e := protocol.LogEntry{Level: wevtLevel(ev.System.Level), Source: ev.System.Provider.Name,
			EventID: ev.System.EventID, Message: strings.TrimSpace(ev.Message)}
		if protocol.LogSeverity(e.Level) > maxSeverity {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, ev.System.TimeCreated.SystemTime); err == nil {
			e.Time = t.UTC()
		}
		if e.Message == "" {
			// No message text for this provider here: its data is what
			// there is.
			e.Message = strings.Join(ev.Data, "; ")
		}
		entries = append(entries, e)
	}
	return entries
}

// fromUTF16 decodes UTF-16LE output (a byte-order mark, or a NUL after
// the first byte) to UTF-8; other output is returned as it is.
func fromUTF16(b []byte) []byte {
	bom := bytes.HasPrefix(b, []byte{0xff, 0xfe})
	if !bom && (len(b) < 2 || b[1] != 0) {
		return b
	}
	if bom {
		b = b[2:]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return []byte(string(utf16.Decode(u)))
}
