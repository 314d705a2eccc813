// Package access decides who is calling (dashboard session or API token)
// and what they may do. The dashboard, the JSON API and (later) the relay
// all ask the same Can function, so a permission means the same everywhere.
package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/steward-rmm/steward/internal/store"
)

// Principal is an authenticated caller.
type Principal struct {
	User store.User
	// Via is "session", "api_token", "console" (the steward CLI on the
	// server) or "setup" (the one-time setup link).
	Via string
	// TokenID is set when Via is "api_token".
	TokenID string
	// SessionHash is set when Via is "session".
	SessionHash string
	// IP is the caller's address.
	IP string
}

// Action is something a principal may be allowed to do.
type Action string

// Actions. Reading covers every GET; the rest change state.
const (
	ReadFleet      Action = "fleet.read"      // view clients, sites, agents, audit
	ManageTenancy  Action = "tenancy.manage"  // create clients and sites
	ManageEnroll   Action = "enroll.manage"   // create and revoke enrollment tokens
	ManageUsers    Action = "users.manage"    // create users (owner, admin)
	ManageSettings Action = "settings.manage" // server settings (owner)
	RunCommands    Action = "commands.run"    // send commands to agents
	ManagePolicies Action = "policies.manage" // create, change and assign policies
	HandleAlerts   Action = "alerts.handle"   // acknowledge and resolve alerts
	// ManageNotifications covers notification channels.
	ManageNotifications Action = "notifications.manage"
	// ManageUpdates covers agent releases and their rollout.
	ManageUpdates Action = "updates.manage"
	// RunScripts runs library scripts and ad-hoc commands on agents, and
	// cancels jobs.
	RunScripts Action = "scripts.run"
	// EditScripts creates, changes and deletes library scripts.
	EditScripts Action = "scripts.edit"
	// InspectSystem lists an agent's processes and services and reads its
	// system log: command lines and log lines can hold what a readonly
	// user should not see.
	InspectSystem Action = "system.inspect"
	// EndProcesses ends processes on agents.
	EndProcesses Action = "processes.end"
	// ControlServices starts, stops and restarts services on agents.
	ControlServices Action = "services.control"
	// ControlPower reboots and shuts down agents' machines.
	ControlPower Action = "power.control"
	// RemoteTerminal opens a root/SYSTEM terminal on agents through the
	// relay.
	RemoteTerminal Action = "remote.terminal"
	// ManageSessions lists every live remote session and ends any.
	ManageSessions Action = "sessions.manage"
)

var allowed = map[store.Role]map[Action]bool{
	store.RoleOwner:      {ReadFleet: true, ManageTenancy: true, ManageEnroll: true, ManageUsers: true, ManageSettings: true, RunCommands: true, ManagePolicies: true, HandleAlerts: true, ManageNotifications: true, ManageUpdates: true, RunScripts: true, EditScripts: true, InspectSystem: true, EndProcesses: true, ControlServices: true, ControlPower: true, RemoteTerminal: true, ManageSessions: true},
	store.RoleAdmin:      {ReadFleet: true, ManageTenancy: true, ManageEnroll: true, ManageUsers: true, RunCommands: true, ManagePolicies: true, HandleAlerts: true, ManageNotifications: true, ManageUpdates: true, RunScripts: true, EditScripts: true, InspectSystem: true, EndProcesses: true, ControlServices: true, ControlPower: true, RemoteTerminal: true, ManageSessions: true},
	store.RoleTechnician: {ReadFleet: true, ManageEnroll: true, RunCommands: true, HandleAlerts: true, RunScripts: true, EditScripts: true, InspectSystem: true, EndProcesses: true, ControlServices: true, ControlPower: true, RemoteTerminal: true},
	store.RoleReadonly:   {ReadFleet: true},
}

// Can reports whether p may perform a.
func Can(p Principal, a Action) bool {
	return allowed[p.User.Role][a]
}

// ErrForbidden means the principal lacks the permission.
var ErrForbidden = errors.New("permission denied")

// Require returns nil when p may perform a, the console always may, and
// an error wrapping ErrForbidden that names the role and action otherwise.
func Require(p Principal, a Action) error {
	if p.Via == "console" || Can(p, a) {
		return nil
	}
	return fmt.Errorf("%w: role %s cannot %s", ErrForbidden, p.User.Role, a)
}

type ctxKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of the request, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// ActorName is how the principal appears in the audit log.
func (p Principal) ActorName() string {
	switch p.Via {
	case "api_token":
		return p.User.Email + " (api token)"
	case "console":
		return "console"
	case "setup":
		return "setup link"
	}
	return p.User.Email
}

// Console is the principal of commands run on the server's console, which
// has full access to the database anyway.
func Console() Principal {
	return Principal{User: store.User{Role: store.RoleOwner}, Via: "console", IP: "local"}
}

// System is the principal of work the server does on its own (an alert's
// remediation script), named for the audit log.
func System(name string) Principal {
	return Principal{User: store.User{Role: store.RoleOwner, Email: name}, Via: "system", IP: "local"}
}

// Audit returns an audit entry pre-filled with the principal's identity.
func (p Principal) Audit(action, targetType, targetID string, detail map[string]string) store.AuditEntry {
	actorType := "user"
	switch p.Via {
	case "api_token", "console", "setup", "system":
		actorType = p.Via
	}
	return store.AuditEntry{
		ActorType: actorType, ActorID: p.User.ID, ActorName: p.ActorName(), Action: action,
		TargetType: targetType, TargetID: targetID, Detail: detail, IP: p.IP,
	}
}
