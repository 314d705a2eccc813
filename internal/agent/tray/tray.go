// Package tray is the agent's icon in a logged-in user's notification area
// (`steward-agent tray`): the menu built from the policy's "tray" section
// and the agent's status, the local pages for "Request help" and "About
// this computer", the parent process that keeps the UI running and on the
// agent's version, one instance per session, and the autostart entries
// that install and uninstall write.
//
// The tray never reads the agent's config or secret: everything it shows
// comes from the agent service through the Agent interface (the local IPC
// channel), which lets any local user ask only for status, the tray
// section and a help request.
package tray

import (
	"context"
	"encoding/json"
	"time"
)

// Agent is what the tray needs from the agent service. The local IPC
// client satisfies it through a small adapter in the command line.
type Agent interface {
	// Status reports the agent's connection and the facts "About this
	// computer" shows.
	Status(ctx context.Context) (Status, error)
	// TrayConfig returns the "tray" section of the effective policy, or
	// nothing when the policy has none.
	TrayConfig(ctx context.Context) (json.RawMessage, error)
	// HelpRequest passes a message the user typed to the agent, which
	// sends it to the server; id is the request's reference.
	HelpRequest(ctx context.Context, message string) (id string, err error)
	// Hello tells the agent that this tray runs and its version, which
	// the agent reports to the server (an update is complete when the
	// trays run the new version too). An agent too old to know it is not
	// an error.
	Hello(ctx context.Context) error
}

// Status is the agent's state as the tray shows it.
type Status struct {
	Connected bool     // the agent holds its control connection to the server
	AgentID   string   // the enrolled agent ID, empty before enrollment
	Hostname  string   // the machine's name
	IPs       []string // the machine's addresses, for "About this computer"
	Version   string   // the agent's version
	// AgentPID is the agent's process: another one means the agent
	// restarted, and forgot this tray's hello.
	AgentPID int
	// Attention is why the agent wants the user's or the technician's
	// attention, in words ("update failed", "disk almost full"); empty
	// when nothing does.
	Attention string
	// Power is the reboot or shutdown the agent will carry out; Action is
	// "" when none is pending.
	Power PowerNotice
}

// PowerNotice is a pending reboot or shutdown, as the agent tells it.
type PowerNotice struct {
	Action  string // "reboot" or "shutdown"
	At      time.Time
	Message string
	By      string
}
