//go:build !linux && !darwin && !windows

package service

import (
	"context"
	"fmt"
	"runtime"
)

const runningMarker = ""

func errUnsupported() error {
	return fmt.Errorf("%w: steward-agent has no service support for %s", ErrNoServiceManager, runtime.GOOS)
}

// Available reports that no supported service manager exists on this OS.
func (m *Manager) Available() error { return errUnsupported() }

// DefaultBinary is where install would copy the binary.
func (m *Manager) DefaultBinary() string { return "/usr/local/bin/steward-agent" }

// Install is not supported on this OS.
func (m *Manager) Install(context.Context, Spec) (Result, error) { return Result{}, errUnsupported() }

// AddRole is not supported on this OS.
func (m *Manager) AddRole(context.Context, Spec, Role) (Result, error) {
	return Result{}, errUnsupported()
}

// Uninstall is not supported on this OS.
func (m *Manager) Uninstall(context.Context) (Result, error) { return Result{}, errUnsupported() }

// Query is not supported on this OS.
func (m *Manager) Query(context.Context, Role) (State, error) { return State{}, errUnsupported() }

// Start is not supported on this OS.
func (m *Manager) Start(context.Context, Role) error { return errUnsupported() }

// Stop is not supported on this OS.
func (m *Manager) Stop(context.Context, Role) error { return errUnsupported() }

// packagedBinary: no system package of the agent exists for this OS.
const packagedBinary = ""
