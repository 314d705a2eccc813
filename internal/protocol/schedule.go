package protocol

import (
	"errors"
	"fmt"
	"time"
)

// Scheduled scripts: the agent decides when a schedule of its policy
// (scripts.schedules) is due, in its own local time, and tells the server
// with TypeScheduleDue; the server creates (or joins) the occurrence's job,
// delivers the run as a CommandScript, and answers TypeScheduleAck. The
// agent sends a due again on the next connection until it is answered.
const (
	TypeScheduleDue = "schedule_due" // agent → server: ScheduleDue
	TypeScheduleAck = "schedule_ack" // server → agent: ScheduleAck
)

// OccurrenceLayout is the layout of an occurrence's local wall time.
const OccurrenceLayout = "2006-01-02T15:04:05"

// Bounds of the schedule messages.
const (
	maxScheduleName  = 64
	maxScheduleError = 1024
)

// ScheduleDue says an occurrence of a schedule is due on the agent.
type ScheduleDue struct {
	// Name is the schedule's name in scripts.schedules.
	Name string `json:"name"`
	// Occurrence is the occurrence's local wall time, OccurrenceLayout: the
	// same for agents in every time zone.
	Occurrence string `json:"occurrence"`
	// Due is the instant the occurrence was due on the agent.
	Due time.Time `json:"due"`
}

// ScheduleAck answers a ScheduleDue: the job its run belongs to, or why
// the server refused it (the agent does not send it again).
type ScheduleAck struct {
	Name       string `json:"name"`
	Occurrence string `json:"occurrence"`
	JobID      string `json:"job_id,omitempty"`
	Error      string `json:"error,omitempty"`
}

// DecodeScheduleDue parses an agent's TypeScheduleDue.
func DecodeScheduleDue(data []byte) (ScheduleDue, error) {
	var d ScheduleDue
	if err := strictUnmarshal(data, &d); err != nil {
		return ScheduleDue{}, fmt.Errorf("decode schedule_due: %w", err)
	}
	if err := checkOccurrence(d.Name, d.Occurrence); err != nil {
		return ScheduleDue{}, fmt.Errorf("decode schedule_due: %w", err)
	}
	if d.Due.IsZero() || d.Due.Year() < 2000 || d.Due.Year() > 9999 {
		return ScheduleDue{}, errors.New("decode schedule_due: due must be a time")
	}
	return d, nil
}

// DecodeScheduleAck parses the server's TypeScheduleAck.
func DecodeScheduleAck(data []byte) (ScheduleAck, error) {
	var a ScheduleAck
	if err := strictUnmarshal(data, &a); err != nil {
		return ScheduleAck{}, fmt.Errorf("decode schedule_ack: %w", err)
	}
	if err := checkOccurrence(a.Name, a.Occurrence); err != nil {
		return ScheduleAck{}, fmt.Errorf("decode schedule_ack: %w", err)
	}
	if (a.JobID == "") == (a.Error == "") {
		return ScheduleAck{}, errors.New("decode schedule_ack: give job_id or error")
	}
	if err := checkToken("job_id", a.JobID, maxIDLen); err != nil {
		return ScheduleAck{}, fmt.Errorf("decode schedule_ack: %w", err)
	}
	if err := checkLongText("error", a.Error, maxScheduleError, false); err != nil {
		return ScheduleAck{}, fmt.Errorf("decode schedule_ack: %w", err)
	}
	return a, nil
}

// checkOccurrence accepts a schedule name (a slug) and an occurrence in
// OccurrenceLayout.
func checkOccurrence(name, occurrence string) error {
	if name == "" || len(name) > maxScheduleName {
		return fmt.Errorf("name must be 1 to %d bytes", maxScheduleName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return errors.New("name must be lower-case letters, digits, '-' and '_'")
		}
	}
	t, err := time.Parse(OccurrenceLayout, occurrence)
	if err != nil || t.Format(OccurrenceLayout) != occurrence {
		return fmt.Errorf("occurrence %q must be a local time like 2026-12-24T18:00:00", truncate(occurrence))
	}
	return nil
}
