// Package ipc is the agent's local channel: the agent service listens on
// one endpoint per machine (a Unix socket on Linux and macOS, a named pipe
// on Windows) and the other roles of the same binary on the machine (the
// watchdog, the tray, `steward-agent status`) call it.
//
// Messages are length-prefixed, versioned JSON (see frame.go). Every
// request is checked against the caller's identity, which the operating
// system gives (SO_PEERCRED, getpeereid, the pipe client's process token),
// before its handler runs: the tray may only ask for status, the tray's
// policy and a help request, and say which version it runs; the
// watchdog's health call needs root or SYSTEM.
package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Methods the agent serves.
const (
	// MethodStatus (any local user): StatusReply.
	MethodStatus = "status"
	// MethodTrayConfig (any local user): TrayConfigReply.
	MethodTrayConfig = "tray_config"
	// MethodHelpRequest (any local user): HelpRequestArgs → HelpRequestReply.
	MethodHelpRequest = "help_request"
	// MethodHealth (root/SYSTEM or an elevated administrator): HealthReply,
	// or an error when the agent is hung (ErrUnhealthy).
	MethodHealth = "health"
	// MethodTrayHello (any local user): TrayHelloArgs → TrayHelloReply. A
	// tray says it when it starts, when the agent restarted, and every
	// TrayHelloEvery; the agent forgets a tray it has not heard from for
	// TrayStale, or whose process is gone. Agents older than the method
	// answer CodeUnknownMethod, which a tray takes as "nothing to tell".
	MethodTrayHello = "tray_hello"
)

// How often a tray says hello, and how long the agent remembers one that
// stopped saying it (a tray killed without a word).
const (
	TrayHelloEvery = time.Minute
	TrayStale      = 3 * TrayHelloEvery
)

// Bounds of TrayHelloArgs.
const (
	maxTrayVersionLen = 64
	maxTraySessionLen = 64
)

// TrayHelloArgs is what a tray says of itself. Its account and, where the
// operating system tells, its process ID the agent takes from the
// connection, not from here.
type TrayHelloArgs struct {
	// Version is the version the tray runs.
	Version string `json:"version"`
	// Session names the user's login session (a Windows session ID, a
	// Unix login session); "" when the tray knows none.
	Session string `json:"session,omitempty"`
	// PID is the tray's process, used only where the connection does not
	// tell it.
	PID int `json:"pid,omitempty"`
}

// TrayHelloReply answers a tray's hello; it carries nothing yet.
type TrayHelloReply struct{}

// DecodeTrayHello decodes and checks tray_hello params: a version of
// printable characters without spaces, a session of printable characters,
// each at most 64 bytes, and a PID that can be one. A failure is a
// CodeBadRequest answer.
func DecodeTrayHello(params json.RawMessage) (TrayHelloArgs, error) {
	var a TrayHelloArgs
	if len(params) == 0 {
		return a, Errorf(CodeBadRequest, "params: missing")
	}
	if err := DecodeParams(params, &a); err != nil {
		return TrayHelloArgs{}, err
	}
	switch {
	case a.Version == "" || len(a.Version) > maxTrayVersionLen || strings.ContainsFunc(a.Version, notToken):
		return TrayHelloArgs{}, Errorf(CodeBadRequest, "version: want 1..%d printable characters without spaces", maxTrayVersionLen)
	case len(a.Session) > maxTraySessionLen || !utf8.ValidString(a.Session) || strings.ContainsFunc(a.Session, unicode.IsControl):
		return TrayHelloArgs{}, Errorf(CodeBadRequest, "session: want at most %d printable characters", maxTraySessionLen)
	case a.PID < 0 || a.PID > 1<<31-1:
		return TrayHelloArgs{}, Errorf(CodeBadRequest, "pid %d is not a process ID", a.PID)
	}
	return a, nil
}

// notToken is a rune a version may not hold: anything but printable ASCII
// without spaces.
func notToken(r rune) bool { return r <= ' ' || r >= 0x7f }

// StatusReply is what any local user may know about the agent: what the
// tray shows in "About this computer" and its connection icon.
type StatusReply struct {
	AgentID     string    `json:"agent_id"`
	Hostname    string    `json:"hostname"`
	IPAddresses []string  `json:"ip_addresses"`
	Version     string    `json:"version"`
	PID         int       `json:"pid"`
	Connected   bool      `json:"connected"`
	Since       time.Time `json:"since"`      // when Connected last changed
	ServerURL   string    `json:"server_url"` // the server connected to, or the one last tried
	LastError   string    `json:"last_error,omitempty"`
	// PolicyRevision is the effective policy the agent runs; empty until it
	// has one.
	PolicyRevision  string    `json:"policy_revision,omitempty"`
	PolicyAppliedAt time.Time `json:"policy_applied_at,omitzero"`
	// Power is the reboot or shutdown the agent will carry out, for the
	// tray to tell the user; absent when none is pending.
	Power *PowerNotice `json:"power,omitempty"`
}

// PowerNotice is a pending reboot or shutdown as the user is told of it.
type PowerNotice struct {
	Action  string    `json:"action"` // "reboot" or "shutdown"
	At      time.Time `json:"at"`
	Message string    `json:"message,omitempty"`
	By      string    `json:"by,omitempty"` // who asked
}

// TrayConfigReply carries the "tray" section of the agent's effective
// policy, as the server sent it; {} when the policy has none (the tray
// then takes its defaults).
type TrayConfigReply struct {
	Tray json.RawMessage `json:"tray"`
}

// HelpRequestArgs is what the user typed in the tray's "Request help".
type HelpRequestArgs struct {
	Message string `json:"message"`
}

// HelpRequestReply names the help request the agent recorded. The agent
// keeps it until the server acknowledges it, across restarts and while
// offline.
type HelpRequestReply struct {
	ID string `json:"id"`
}

// HealthReply proves the agent is not hung: the agent's control loop
// (which keeps the server connection) proved itself alive at ControlAlive.
type HealthReply struct {
	PID          int       `json:"pid"`
	Version      string    `json:"version"`
	Started      time.Time `json:"started"`
	Connected    bool      `json:"connected"`
	ControlAlive time.Time `json:"control_alive"`
}

// Error codes of a RemoteError.
const (
	CodeBadRequest    = "bad_request"         // the request does not decode or its arguments are invalid
	CodeVersion       = "unsupported_version" // the request's format version is not this agent's
	CodeUnknownMethod = "unknown_method"
	CodeForbidden     = "forbidden"    // the caller's identity does not allow the method
	CodeBusy          = "busy"         // too many connections or queued requests
	CodeRateLimited   = "rate_limited" // the caller made too many such calls lately; the message says when to retry
	CodeTimeout       = "timeout"      // the handler did not finish within the request deadline
	CodeUnhealthy     = "unhealthy"    // health: the agent is hung
	CodeInternal      = "internal"
)

// Sentinels for errors.Is on a *RemoteError, by code.
var (
	ErrBadRequest    = errors.New("ipc: bad request")
	ErrVersion       = errors.New("ipc: unsupported version")
	ErrUnknownMethod = errors.New("ipc: unknown method")
	ErrForbidden     = errors.New("ipc: forbidden")
	ErrBusy          = errors.New("ipc: busy")
	ErrRateLimited   = errors.New("ipc: rate limited")
	ErrTimeout       = errors.New("ipc: timeout")
	ErrUnhealthy     = errors.New("ipc: unhealthy")
	ErrInternal      = errors.New("ipc: internal error")
)

// RemoteError is an error the server answered a call with. errors.Is
// matches it against the sentinel of its code (ErrForbidden...).
type RemoteError struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// Errorf returns a *RemoteError for a handler to answer with.
func Errorf(code, format string, args ...any) *RemoteError {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "ipc: " + e.Code
	}
	return "ipc: " + e.Code + ": " + e.Message
}

// Is reports whether target is the sentinel of e's code.
func (e *RemoteError) Is(target error) bool {
	return target != nil && target == sentinel(e.Code)
}

func sentinel(code string) error {
	switch code {
	case CodeBadRequest:
		return ErrBadRequest
	case CodeVersion:
		return ErrVersion
	case CodeUnknownMethod:
		return ErrUnknownMethod
	case CodeForbidden:
		return ErrForbidden
	case CodeBusy:
		return ErrBusy
	case CodeRateLimited:
		return ErrRateLimited
	case CodeTimeout:
		return ErrTimeout
	case CodeUnhealthy:
		return ErrUnhealthy
	case CodeInternal:
		return ErrInternal
	}
	return nil
}

// Role is what a caller may ask for, from its identity.
type Role int

// Roles, least first.
const (
	// RoleUser is any local user that can reach the endpoint.
	RoleUser Role = iota
	// RoleAdmin is root (uid 0) on Unix; LocalSystem or an elevated
	// member of Administrators on Windows.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleUser:
		return "user"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Caller is the identity of the process at the other end of a connection,
// as the operating system reports it (never as the client claims).
type Caller struct {
	// User is the account name ("alice", `ACME\alice`), or the numeric id
	// when it has no name.
	User string
	// UID is the Unix user id; -1 on Windows.
	UID int
	// SID is the Windows user SID; "" on Unix.
	SID string
	// PID is the client's process id, 0 when the OS does not tell.
	PID   int
	Admin bool
}

// Role is the caller's role.
func (c Caller) Role() Role {
	if c.Admin {
		return RoleAdmin
	}
	return RoleUser
}
