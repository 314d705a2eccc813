package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Quick actions: typed commands for what a technician does on one machine
// without writing a script. Each is a Command whose Result output is the
// type named beside it; an output must fit one control message, so the
// agent shortens long fields and drops the least interesting entries to
// stay under MaxOutputBytes, and says so with Truncated.
const (
	// CommandProcesses lists processes: no args, output ProcessList.
	CommandProcesses = "processes"
	// CommandProcessEnd ends a process: args ProcessEnd, output ProcessEnded.
	CommandProcessEnd = "process_end"
	// CommandServices lists services (Windows services, systemd units,
	// launchd jobs): no args, output ServiceList.
	CommandServices = "services"
	// CommandServiceControl starts, stops or restarts a service: args
	// ServiceControl, output ServiceInfo (its state afterwards).
	CommandServiceControl = "service_control"
	// CommandEventLog reads the newest entries of the system log (the
	// Windows System event log, the systemd journal, the macOS unified
	// log): args EventLogQuery, output EventLog.
	CommandEventLog = "event_log"
	// CommandPower schedules or cancels a reboot or shutdown: args
	// PowerRequest, output PowerState (what is pending afterwards).
	CommandPower = "power"
)

// Bounds of quick-action messages.
const (
	MaxProcesses        = 4096
	MaxServices         = 4096
	MaxLogEntries       = 1000
	DefaultLogEntries   = 100
	MaxPowerDelay       = 7 * 24 * time.Hour
	MaxPowerMessage     = 512
	maxServiceNameBytes = 256
	maxActionText       = 8 << 10
)

// ProcessList is the output of CommandProcesses.
type ProcessList struct {
	Processes []ProcessInfo `json:"processes"`
	// Truncated says the agent shortened command lines or left processes
	// out (the smallest by memory) to fit one message.
	Truncated bool `json:"truncated,omitempty"`
}

// ProcessInfo is one process.
type ProcessInfo struct {
	PID  int32  `json:"pid"`
	PPID int32  `json:"ppid,omitempty"`
	Name string `json:"name"`
	User string `json:"user,omitempty"`
	// CPUPercent is the share of one CPU used over the agent's sampling
	// interval (may exceed 100 on several cores).
	CPUPercent  float64   `json:"cpu_percent"`
	MemoryBytes uint64    `json:"memory_bytes"` // resident set
	CommandLine string    `json:"command_line,omitempty"`
	StartedAt   time.Time `json:"started_at,omitzero"`
}

// ProcessEnd is the args of CommandProcessEnd. Name must be the process's
// name as listed, so a PID reused by another program since the list was
// taken is not ended by mistake.
type ProcessEnd struct {
	PID  int32  `json:"pid"`
	Name string `json:"name"`
	// Tree ends its descendants too.
	Tree bool `json:"tree,omitempty"`
}

// ProcessEnded is the output of CommandProcessEnd.
type ProcessEnded struct {
	PID  int32  `json:"pid"`
	Name string `json:"name"`
	// Ended counts the processes ended (more than one with Tree).
	Ended int `json:"ended"`
}

// Service managers (ServiceList.Manager).
const (
	ManagerSCM     = "scm"     // Windows Service Control Manager
	ManagerSystemd = "systemd" // systemd units of type service
	ManagerLaunchd = "launchd" // launchd jobs in the system domain
)

// Service states (ServiceInfo.State), with ServiceRunning and
// ServiceStopped the watchdog uses too.
const (
	ServiceStarting = "starting"
	ServiceStopping = "stopping"
	ServiceFailed   = "failed"
	ServiceUnknown  = "unknown"
)

// Service start types (ServiceInfo.StartType).
const (
	StartAuto     = "auto"
	StartManual   = "manual"
	StartDisabled = "disabled"
)

// ServiceList is the output of CommandServices.
type ServiceList struct {
	Manager   string        `json:"manager"`
	Services  []ServiceInfo `json:"services"`
	Truncated bool          `json:"truncated,omitempty"`
}

// ServiceInfo is one service.
type ServiceInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	State       string `json:"state"`
	StartType   string `json:"start_type,omitempty"`
	PID         int32  `json:"pid,omitempty"`
	Description string `json:"description,omitempty"`
}

// Service actions (ServiceControl.Action).
const (
	ServiceStart   = "start"
	ServiceStop    = "stop"
	ServiceRestart = "restart"
)

// ServiceControl is the args of CommandServiceControl.
type ServiceControl struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// Log levels, most severe first (EventLogQuery.Level, LogEntry.Level).
const (
	LogCritical = "critical"
	LogError    = "error"
	LogWarning  = "warning"
	LogInfo     = "info"
	LogDebug    = "debug"
)

// LogLevels lists the levels, most severe first.
var LogLevels = []string{LogCritical, LogError, LogWarning, LogInfo, LogDebug}

// LogSeverity ranks a level: 0 is critical, larger is less severe, -1 is
// unknown.
func LogSeverity(level string) int {
	for i, l := range LogLevels {
		if l == level {
			return i
		}
	}
	return -1
}

// EventLogQuery is the args of CommandEventLog.
type EventLogQuery struct {
	// Level keeps entries at least this severe; "" means info.
	Level string `json:"level,omitempty"`
	// Limit is how many of the newest entries to return; 0 means
	// DefaultLogEntries.
	Limit int `json:"limit,omitempty"`
}

// MinLevel is the least severe level the query keeps.
func (q EventLogQuery) MinLevel() string {
	if q.Level == "" {
		return LogInfo
	}
	return q.Level
}

// Count is how many entries the query asks for.
func (q EventLogQuery) Count() int {
	if q.Limit == 0 {
		return DefaultLogEntries
	}
	return q.Limit
}

// EventLog is the output of CommandEventLog, newest entry first.
type EventLog struct {
	// Source names what was read ("Windows System log", "systemd
	// journal", "unified log").
	Source    string     `json:"source"`
	Entries   []LogEntry `json:"entries"`
	Truncated bool       `json:"truncated,omitempty"`
}

// LogEntry is one log entry.
type LogEntry struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	// Source is the event's provider (Windows), unit or identifier
	// (journal), or process (macOS).
	Source  string `json:"source,omitempty"`
	EventID int    `json:"event_id,omitempty"`
	Message string `json:"message"`
}

// Power actions (PowerRequest.Action, PowerState.Action).
const (
	PowerReboot   = "reboot"
	PowerShutdown = "shutdown"
	PowerCancel   = "cancel" // request only: cancel what is pending
)

// PowerRequest is the args of CommandPower. The agent tells the logged-in
// user through the tray (when one runs) what will happen, when and why,
// and acts at At, or Delay after it receives the request when At is
// zero. A new request replaces a pending one.
type PowerRequest struct {
	Action  string    `json:"action"`
	At      time.Time `json:"at,omitzero"`
	Delay   Duration  `json:"delay,omitempty"`
	Message string    `json:"message,omitempty"`
	// By names who asked, for the user's notice.
	By string `json:"by,omitempty"`
}

// PowerState is the output of CommandPower: what is pending on the agent
// after the request; Action is "" when nothing is.
type PowerState struct {
	Action  string    `json:"action,omitempty"`
	At      time.Time `json:"at,omitzero"`
	Message string    `json:"message,omitempty"`
	By      string    `json:"by,omitempty"`
}

// Validate checks a process end request.
func (p ProcessEnd) Validate() error {
	if p.PID <= 0 {
		return fmt.Errorf("pid %d is not a process ID", p.PID)
	}
	if p.Name == "" {
		return errors.New("name is required: the process's name as listed")
	}
	return checkActionText("name", p.Name, maxServiceNameBytes)
}

// Validate checks a service control request.
func (s ServiceControl) Validate() error {
	if s.Name == "" {
		return errors.New("name is required")
	}
	if err := checkActionText("name", s.Name, maxServiceNameBytes); err != nil {
		return err
	}
	switch s.Action {
	case ServiceStart, ServiceStop, ServiceRestart:
		return nil
	}
	return fmt.Errorf("action must be %s, %s or %s, got %q", ServiceStart, ServiceStop, ServiceRestart, truncate(s.Action))
}

// Validate checks an event log query.
func (q EventLogQuery) Validate() error {
	if q.Level != "" && LogSeverity(q.Level) < 0 {
		return fmt.Errorf("level must be one of %v, got %q", LogLevels, truncate(q.Level))
	}
	if q.Limit < 0 || q.Limit > MaxLogEntries {
		return fmt.Errorf("limit must be between 1 and %d", MaxLogEntries)
	}
	return nil
}

// Validate checks a power request; now is when it is checked, for At.
func (p PowerRequest) Validate(now time.Time) error {
	switch p.Action {
	case PowerReboot, PowerShutdown:
	case PowerCancel:
		if !p.At.IsZero() || p.Delay != 0 {
			return errors.New("cancel takes no time")
		}
	default:
		return fmt.Errorf("action must be %s, %s or %s, got %q", PowerReboot, PowerShutdown, PowerCancel, truncate(p.Action))
	}
	if !p.At.IsZero() && p.Delay != 0 {
		return errors.New("give either a time or a delay, not both")
	}
	if p.Delay < 0 || time.Duration(p.Delay) > MaxPowerDelay {
		return fmt.Errorf("delay must be between 0 and %v", MaxPowerDelay)
	}
	if !p.At.IsZero() && p.At.After(now.Add(MaxPowerDelay)) {
		return fmt.Errorf("time must be within %v", MaxPowerDelay)
	}
	if err := checkActionText("message", p.Message, MaxPowerMessage); err != nil {
		return err
	}
	return checkActionText("by", p.By, maxServiceNameBytes)
}

// Validate checks a pending power action as an agent reports it.
func (s PowerState) Validate() error {
	if s.Action != PowerReboot && s.Action != PowerShutdown {
		return fmt.Errorf("action must be %s or %s, got %q", PowerReboot, PowerShutdown, truncate(s.Action))
	}
	if s.At.IsZero() {
		return errors.New("time is required")
	}
	if err := checkActionText("message", s.Message, MaxPowerMessage); err != nil {
		return err
	}
	return checkActionText("by", s.By, maxServiceNameBytes)
}

// When is the time a request acts, given when it was received.
func (p PowerRequest) When(received time.Time) time.Time {
	if !p.At.IsZero() {
		return p.At
	}
	return received.Add(time.Duration(p.Delay))
}

// checkActionText accepts limit bytes of UTF-8 without control characters
// other than newline and tab (a power message may have lines).
func checkActionText(name, v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%s is %d bytes, limit %d", name, len(v), limit)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Errorf("%s contains control characters", name)
		}
	}
	return nil
}

// DecodeProcessEnd parses and checks CommandProcessEnd args.
func DecodeProcessEnd(data json.RawMessage) (ProcessEnd, error) {
	var p ProcessEnd
	if err := decodeArgs(data, &p); err != nil {
		return ProcessEnd{}, fmt.Errorf("decode process end: %w", err)
	}
	if err := p.Validate(); err != nil {
		return ProcessEnd{}, fmt.Errorf("decode process end: %w", err)
	}
	return p, nil
}

// DecodeServiceControl parses and checks CommandServiceControl args.
func DecodeServiceControl(data json.RawMessage) (ServiceControl, error) {
	var s ServiceControl
	if err := decodeArgs(data, &s); err != nil {
		return ServiceControl{}, fmt.Errorf("decode service control: %w", err)
	}
	if err := s.Validate(); err != nil {
		return ServiceControl{}, fmt.Errorf("decode service control: %w", err)
	}
	return s, nil
}

// DecodeEventLogQuery parses and checks CommandEventLog args; no args is
// the default query.
func DecodeEventLogQuery(data json.RawMessage) (EventLogQuery, error) {
	var q EventLogQuery
	if len(data) == 0 {
		return q, nil
	}
	if err := decodeArgs(data, &q); err != nil {
		return EventLogQuery{}, fmt.Errorf("decode event log query: %w", err)
	}
	if err := q.Validate(); err != nil {
		return EventLogQuery{}, fmt.Errorf("decode event log query: %w", err)
	}
	return q, nil
}

// DecodePowerRequest parses and checks CommandPower args received at now.
func DecodePowerRequest(data json.RawMessage, now time.Time) (PowerRequest, error) {
	var p PowerRequest
	if err := decodeArgs(data, &p); err != nil {
		return PowerRequest{}, fmt.Errorf("decode power request: %w", err)
	}
	if err := p.Validate(now); err != nil {
		return PowerRequest{}, fmt.Errorf("decode power request: %w", err)
	}
	return p, nil
}

// decodeArgs decodes a command's args strictly, bounded.
func decodeArgs(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return errors.New("missing args")
	}
	if len(data) > maxActionText {
		return fmt.Errorf("args are %d bytes, limit %d", len(data), maxActionText)
	}
	return strictUnmarshal(data, v)
}
