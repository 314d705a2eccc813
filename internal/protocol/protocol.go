// Package protocol defines the wire protocol between steward-agent and the
// steward server: the enrollment exchange and the JSON envelopes carried on
// the agent's WebSocket control channel. It is the only package that both
// binaries import, so it must stay free of server and agent internals.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the control-channel protocol version. It is part of the
// WebSocket path (/agent/v1/connect) and echoed in Welcome.
const Version = 1

// Paths of the agent gateway on the server.
const (
	EnrollPath  = "/agent/v1/enroll"
	ConnectPath = "/agent/v1/connect"
)

// MaxMessageBytes bounds every control-channel message in either direction.
// Larger messages close the connection with StatusMessageTooBig.
const MaxMessageBytes = 64 << 10

// MaxEnrollBodyBytes bounds the enrollment request body.
const MaxEnrollBodyBytes = 64 << 10

// Message types on the control channel.
const (
	TypeHello     = "hello"     // agent → server, first message: Facts
	TypeWelcome   = "welcome"   // server → agent, answer to hello: Welcome
	TypeHeartbeat = "heartbeat" // both ways: Heartbeat
	TypeFacts     = "facts"     // agent → server when facts change: Facts
	TypeError     = "error"     // both ways: Error
)

// Close codes the server sends when it ends a control connection, so the
// agent can tell a replaced session from a failure. Agents close with the
// standard codes only.
const (
	CloseReplaced     = 4000 // a newer connection for the same agent won
	CloseUnauthorized = 4001 // credentials no longer valid (agent deleted)
	CloseProtocol     = 4002 // the peer broke the protocol
	CloseShutdown     = 4003 // the server is shutting down; reconnect soon
)

// Envelope is the frame of every control-channel message. ID is optional;
// when a sender sets it (the agent numbers its messages per connection),
// answers and errors refer back to it.
type Envelope struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Facts describe the machine an agent runs on. Sent in hello and whenever
// they change.
type Facts struct {
	Hostname     string    `json:"hostname"`
	OS           string    `json:"os"`            // runtime.GOOS: linux, windows, darwin
	OSName       string    `json:"os_name"`       // distribution or product, e.g. "ubuntu", "Microsoft Windows 11 Pro"
	OSVersion    string    `json:"os_version"`    // e.g. "24.04", "10.0.22631"
	Arch         string    `json:"arch"`          // runtime.GOARCH
	Kernel       string    `json:"kernel"`        // kernel version
	AgentVersion string    `json:"agent_version"` // steward-agent version
	BootTime     time.Time `json:"boot_time"`
	IPAddresses  []string  `json:"ip_addresses"`
	Users        []string  `json:"users"` // logged-in user names
	// Trays are the tray processes running in users' sessions, as they
	// last told the agent; absent when none runs. An update is complete
	// when they run the agent's version too.
	Trays []TrayInfo `json:"trays,omitempty"`
	// Update is the update this agent swapped in and that the server has
	// not confirmed yet; set in hello only.
	Update *PendingUpdate `json:"update,omitempty"`
	// PowerPending is the reboot or shutdown the agent will carry out (see
	// CommandPower); absent when none is pending.
	PowerPending *PowerState `json:"power_pending,omitempty"`
}

// TrayInfo is one tray (steward-agent tray) in a user's session.
type TrayInfo struct {
	// User is the account the tray runs as, as the operating system told
	// the agent (never as the tray claims it).
	User string `json:"user"`
	// Session names the user's login session, as the tray gives it (a
	// Windows session ID, a Unix login session); "" when it has none.
	Session string `json:"session,omitempty"`
	// Version is the version the tray runs.
	Version string `json:"version"`
}

// Welcome is the server's answer to hello.
type Welcome struct {
	AgentID           string    `json:"agent_id"`
	ProtocolVersion   int       `json:"protocol_version"`
	ServerVersion     string    `json:"server_version"`
	HeartbeatInterval Duration  `json:"heartbeat_interval"`
	ServerTime        time.Time `json:"server_time"`
	// Policy is the agent's effective policy; the agent applies it and
	// answers with a policy_ack.
	Policy *PolicyUpdate `json:"policy,omitempty"`
	// UpdateConfirmed is the release ID of the hello's Facts.Update when
	// the server recorded it: the agent may delete its backup.
	UpdateConfirmed string `json:"update_confirmed,omitempty"`
}

// Heartbeat is sent by the agent every HeartbeatInterval; the server answers
// with one of its own.
type Heartbeat struct {
	Time time.Time `json:"time"`
}

// Error reports a rejected message. Code is machine-readable.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RefID is the envelope ID of the message that caused the error.
	RefID string `json:"ref_id,omitempty"`
}

// Error codes.
const (
	CodeUnknownType = "unknown_type"
	CodeBadMessage  = "bad_message"
	CodeNotHello    = "expected_hello"
	// CodeRateLimited refuses a message the agent sent too many of lately
	// (help requests); the agent drops it rather than send it again.
	CodeRateLimited = "rate_limited"
)

// EnrollRequest is the body of POST /agent/v1/enroll.
type EnrollRequest struct {
	Token string `json:"token"`
	Facts Facts  `json:"facts"`
}

// EnrollResponse is the answer to a successful enrollment. AgentSecret is
// shown only once; the server keeps a hash of it.
type EnrollResponse struct {
	AgentID     string `json:"agent_id"`
	AgentSecret string `json:"agent_secret"`
}

// ErrorResponse is the JSON body of every HTTP error the gateway returns.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Duration is a time.Duration that travels as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse duration: %w", err)
	}
	if v < 0 {
		return errors.New("duration must not be negative")
	}
	*d = Duration(v)
	return nil
}

// Encode builds an envelope for a payload. A nil payload sends no data.
func Encode(typ, id string, payload any) ([]byte, error) {
	env := Envelope{Type: typ, ID: id}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", typ, err)
		}
		env.Data = b
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s envelope: %w", typ, err)
	}
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("encode %s: message is %d bytes, limit %d", typ, len(b), MaxMessageBytes)
	}
	return b, nil
}
