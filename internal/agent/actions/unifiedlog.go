package actions

import (
	"bufio"
	"encoding/json"
	"io"
	"slices"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// unifiedLevel maps a unified log message type to a level; the unified
// log has no warnings, and "Default" is its notice level.
func unifiedLevel(messageType string) string {
	switch messageType {
	case "Fault":
		return protocol.LogCritical
	case "Error":
		return protocol.LogError
	case "Debug":
		return protocol.LogDebug
	}
	return protocol.LogInfo
}

// unifiedPredicates are the `log show --predicate` filters that keep the
// entries at least as severe as a level; info and debug need the --info
// and --debug flags too.
var unifiedPredicates = map[string]string{
	protocol.LogCritical: "messageType == fault",
	protocol.LogError:    "messageType == fault OR messageType == error",
	protocol.LogWarning:  "messageType == fault OR messageType == error",
}

// unifiedTime is the layout of the unified log's timestamps.
const unifiedTime = "2006-01-02 15:04:05.999999-0700"

// parseUnifiedLog reads `log show --style ndjson`, oldest entry first, one
// JSON object a line, and returns the newest limit entries at least as
// severe as minLevel, newest first. It reads as it goes, keeping only
// limit entries, so an hour of a busy log costs bounded memory; lines
// that are not entries (the closing summary) are skipped.
func parseUnifiedLog(r io.Reader, minLevel string, limit int) []protocol.LogEntry {
	maxSeverity := protocol.LogSeverity(minLevel)
	ring := make([]protocol.LogEntry, 0, limit)
	next := 0 // the oldest entry in ring once it is full
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxJournalLine)
	for sc.Scan() {
		var raw struct {
			Timestamp   string `json:"timestamp"`
			MessageType string `json:"messageType"`
			Message     string `json:"eventMessage"`
			Process     string `json:"processImagePath"`
		}
		if json.Unmarshal(sc.Bytes(), &raw) != nil || raw.Timestamp == "" {
			continue
		}
		t, err := time.Parse(unifiedTime, raw.Timestamp)
		if err != nil {
			continue
		}
		e := protocol.LogEntry{Time: t.UTC(), Level: unifiedLevel(raw.MessageType), Source: baseName(raw.Process), Message: raw.Message}
		if protocol.LogSeverity(e.Level) > maxSeverity || limit == 0 {
			continue
		}
		if len(ring) < limit {
			ring = append(ring, e)
			continue
		}
		ring[next] = e
		next = (next + 1) % limit
	}
	out := append(ring[next:], ring[:next]...)
	slices.Reverse(out)
	return out
}

// baseName is the last element of a slash-separated path.
func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
