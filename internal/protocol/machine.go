package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// What the agent's life on a machine tells the server besides the control
// channel: that it was uninstalled, that its watchdog finds it down (when
// there is no control channel to speak on) and that a user asked for help
// from the tray.
const (
	// UninstallPath: POST with the agent's credentials (AuthScheme) and an
	// Uninstall body, sent by `steward-agent uninstall` before it deletes
	// its secret. 204 on success; the agent then shows as uninstalled, not
	// offline, and its credentials stop working.
	UninstallPath = "/agent/v1/uninstall"
	// WatchdogPath: POST with the agent's credentials and a WatchdogReport
	// body, sent by the watchdog when the agent's state or a watched
	// service's state changes. 204 on success.
	WatchdogPath = "/agent/v1/watchdog"
)

// TypeHelpRequest is sent agent → server on the control channel with a
// HelpRequest when a user asks for help from the tray. The server answers
// with an envelope of the same ID and type "help_request_ack" (no data), or
// an error; the agent keeps the request until it is acknowledged.
const (
	TypeHelpRequest    = "help_request"
	TypeHelpRequestAck = "help_request_ack"
)

// Bounds of the machine-life messages.
const (
	// MaxMachineBodyBytes bounds the body of UninstallPath and WatchdogPath.
	MaxMachineBodyBytes = 16 << 10
	// MaxHelpMessageLen bounds the text of a help request, in bytes.
	MaxHelpMessageLen = 2000
	// MaxReasonLen bounds a free-text reason, in bytes.
	MaxReasonLen = 512
	// MaxWatchedServices bounds WatchdogReport.Services.
	MaxWatchedServices = 32
)

// Uninstall is the body of UninstallPath.
type Uninstall struct {
	// Reason is free text for the audit log ("uninstalled by msiexec",
	// "steward-agent uninstall"), optional.
	Reason string `json:"reason,omitempty"`
}

// Agent states a watchdog reports.
const (
	AgentRunning    = "running"    // the agent answers its health call
	AgentDown       = "down"       // the agent process is not running and could not be started
	AgentHung       = "hung"       // the process runs but does not answer its health call
	AgentRestarting = "restarting" // the watchdog is restarting it
)

// Watched service states a watchdog reports.
const (
	ServiceRunning       = "running"
	ServiceStopped       = "stopped"
	ServiceMissing       = "missing"        // no such service or process on the machine
	ServiceRestarted     = "restarted"      // was stopped; the watchdog started it again
	ServiceRestartFailed = "restart_failed" // was stopped; starting it failed
)

// WatchdogReport is the body of WatchdogPath: the agent's state as the
// watchdog sees it, and the state of every service the policy's watchdog
// section names.
type WatchdogReport struct {
	At time.Time `json:"at"`
	// Version is the version the watchdog itself runs (newer watchdogs).
	Version  string           `json:"version,omitempty"`
	Agent    AgentHealth      `json:"agent"`
	Services []WatchedService `json:"services,omitempty"`
}

// AgentHealth is the agent's state in a WatchdogReport.
type AgentHealth struct {
	State    string    `json:"state"`            // AgentRunning, AgentDown, AgentHung or AgentRestarting
	Reason   string    `json:"reason,omitempty"` // why, in words: "exit status 2", "no answer to health for 90s"
	Since    time.Time `json:"since"`            // when it entered State
	Restarts int       `json:"restarts"`         // restarts by the watchdog since the state was last running
}

// WatchedService is one service or process from the policy's watchdog
// section in a WatchdogReport.
type WatchedService struct {
	Name   string `json:"name"`
	State  string `json:"state"` // one of the Service* states
	Reason string `json:"reason,omitempty"`
	Alert  bool   `json:"alert"` // the policy asks for an alert when it is not running
}

// HelpRequest is what a user typed in the tray's "Request help".
type HelpRequest struct {
	// ID is made by the agent so that a request sent twice (after a lost
	// acknowledgement) is recorded once.
	ID      string    `json:"id"`
	User    string    `json:"user"` // the OS account of the user who asked, as the agent identified it
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// DecodeUninstall parses the body of UninstallPath. An empty body is allowed.
func DecodeUninstall(b []byte) (Uninstall, error) {
	var u Uninstall
	if len(b) == 0 {
		return u, nil
	}
	if len(b) > MaxMachineBodyBytes {
		return u, ErrTooLarge
	}
	if err := strictUnmarshal(b, &u); err != nil {
		return Uninstall{}, fmt.Errorf("decode uninstall: %w", err)
	}
	if err := checkLongText("reason", u.Reason, MaxReasonLen, false); err != nil {
		return Uninstall{}, fmt.Errorf("decode uninstall: %w", err)
	}
	return u, nil
}

// DecodeWatchdogReport parses and validates the body of WatchdogPath.
func DecodeWatchdogReport(b []byte) (WatchdogReport, error) {
	var r WatchdogReport
	if len(b) > MaxMachineBodyBytes {
		return r, ErrTooLarge
	}
	if err := strictUnmarshal(b, &r); err != nil {
		return WatchdogReport{}, fmt.Errorf("decode watchdog report: %w", err)
	}
	if err := r.Validate(); err != nil {
		return WatchdogReport{}, fmt.Errorf("decode watchdog report: %w", err)
	}
	return r, nil
}

// Validate checks a report's states, bounds and text.
func (r WatchdogReport) Validate() error {
	if r.At.IsZero() {
		return errors.New("at is required")
	}
	if len(r.Version) > maxVersionLen {
		return fmt.Errorf("version is longer than %d bytes", maxVersionLen)
	}
	if err := checkText("version", r.Version); err != nil {
		return err
	}
	switch r.Agent.State {
	case AgentRunning, AgentDown, AgentHung, AgentRestarting:
	default:
		return fmt.Errorf("agent state %q is not one of running, down, hung, restarting", truncate(r.Agent.State))
	}
	if err := checkLongText("agent reason", r.Agent.Reason, MaxReasonLen, false); err != nil {
		return err
	}
	if r.Agent.Restarts < 0 {
		return errors.New("agent restarts is negative")
	}
	if len(r.Services) > MaxWatchedServices {
		return fmt.Errorf("%d services, limit %d", len(r.Services), MaxWatchedServices)
	}
	for _, s := range r.Services {
		if strings.TrimSpace(s.Name) == "" {
			return errors.New("service name is required")
		}
		if err := checkLongText("service name", s.Name, MaxFieldLen, false); err != nil {
			return err
		}
		switch s.State {
		case ServiceRunning, ServiceStopped, ServiceMissing, ServiceRestarted, ServiceRestartFailed:
		default:
			return fmt.Errorf("service %q: state %q is not known", truncate(s.Name), truncate(s.State))
		}
		if err := checkLongText("service reason", s.Reason, MaxReasonLen, false); err != nil {
			return err
		}
	}
	return nil
}

// DecodeHelpRequest parses and validates a help request from the control
// channel.
func DecodeHelpRequest(data json.RawMessage) (HelpRequest, error) {
	var h HelpRequest
	if len(data) > MaxMessageBytes {
		return h, ErrTooLarge
	}
	if err := strictUnmarshal(data, &h); err != nil {
		return HelpRequest{}, fmt.Errorf("decode help_request: %w", err)
	}
	if err := h.Validate(); err != nil {
		return HelpRequest{}, fmt.Errorf("decode help_request: %w", err)
	}
	return h, nil
}

// Validate checks a help request's ID, user, message and time.
func (h HelpRequest) Validate() error {
	if h.ID == "" {
		return errors.New("id is required")
	}
	if err := checkToken("id", h.ID, maxIDLen); err != nil {
		return err
	}
	if strings.TrimSpace(h.User) == "" {
		return errors.New("user is required")
	}
	if err := checkLongText("user", h.User, MaxFieldLen, false); err != nil {
		return err
	}
	if strings.TrimSpace(h.Message) == "" {
		return errors.New("message is required")
	}
	if err := checkLongText("message", h.Message, MaxHelpMessageLen, true); err != nil {
		return err
	}
	if h.At.IsZero() {
		return errors.New("at is required")
	}
	return nil
}

// checkLongText accepts valid UTF-8 up to limit bytes without control
// characters; multiline also lets newlines and tabs through (a message a
// user typed).
func checkLongText(name, v string, limit int, multiline bool) error {
	if len(v) > limit {
		return fmt.Errorf("%s is %d bytes, limit %d", name, len(v), limit)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	for _, r := range v {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains control characters", name)
		}
	}
	return nil
}
