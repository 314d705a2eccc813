package actions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// journalPriority is the largest syslog priority (least severe) a level
// keeps, for journalctl -p.
func journalPriority(level string) int {
	switch level {
	case protocol.LogCritical:
		return 2
	case protocol.LogError:
		return 3
	case protocol.LogWarning:
		return 4
	case protocol.LogInfo:
		return 6
	}
	return 7
}

// journalLevel maps a syslog priority to a level: 0-2 (emergency, alert,
// critical) are critical, 5-6 (notice, info) info.
func journalLevel(priority int) string {
	switch {
	case priority <= 2:
		return protocol.LogCritical
	case priority == 3:
		return protocol.LogError
	case priority == 4:
		return protocol.LogWarning
	case priority <= 6:
		return protocol.LogInfo
	}
	return protocol.LogDebug
}

// maxJournalLine bounds one line of journalctl's JSON; an entry longer
// than that (a core dump's metadata) is skipped.
const maxJournalLine = 1 << 20

// parseJournal reads `journalctl -o json` output, one entry a line, and
// keeps at most limit entries at least as severe as minLevel, in the order
// read. A line that does not decode is skipped: the journal is written by
// every program on the machine.
func parseJournal(out []byte, minLevel string, limit int) []protocol.LogEntry {
	maxSeverity := protocol.LogSeverity(minLevel)
	entries := []protocol.LogEntry{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, maxJournalLine)
	for sc.Scan() && len(entries) < limit {
		var raw struct {
			Time       string          `json:"__REALTIME_TIMESTAMP"`
			Priority   json.RawMessage `json:"PRIORITY"`
			Message    json.RawMessage `json:"MESSAGE"`
			Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
			Unit       json.RawMessage `json:"_SYSTEMD_UNIT"`
			Comm       json.RawMessage `json:"_COMM"`
		}
		if json.Unmarshal(sc.Bytes(), &raw) != nil {
			continue
		}
		us, err := strconv.ParseInt(raw.Time, 10, 64)
		if err != nil {
			continue
		}
		prio := 6 // journald's default for an entry without one
		if p, err := strconv.Atoi(journalText(raw.Priority)); err == nil {
			prio = p
		}
		e := protocol.LogEntry{Time: time.UnixMicro(us).UTC(), Level: journalLevel(prio),
			Message: journalText(raw.Message)}
		if protocol.LogSeverity(e.Level) > maxSeverity {
			continue
		}
		for _, src := range []json.RawMessage{raw.Identifier, raw.Unit, raw.Comm} {
			if e.Source = journalText(src); e.Source != "" {
				break
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// journalText reads a journal field: a string; an array of byte values
// when the value is not valid UTF-8 or has control characters (invalid
// bytes are replaced); an array of values when the entry has the field
// more than once (the first is kept); or null.
func journalText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var ints []int
	if json.Unmarshal(raw, &ints) == nil {
		b := make([]byte, len(ints))
		for i, v := range ints {
			b[i] = byte(v)
		}
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	var values []json.RawMessage
	if json.Unmarshal(raw, &values) == nil && len(values) > 0 {
		var first string
		if json.Unmarshal(values[0], &first) == nil {
			return first
		}
	}
	return ""
}
