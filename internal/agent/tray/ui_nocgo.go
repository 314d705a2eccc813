//go:build darwin && !cgo

package tray

import (
	"context"
	"errors"
)

// fyne.io/systray draws the macOS menu bar item through Cocoa, which needs
// cgo; agents are cross-compiled with cgo off.
var errNoCgo = errors.New("the tray needs a cgo build on macOS (CGO_ENABLED=1 on a Mac); this agent was built without cgo")

// Supported reports whether this build can show a tray icon.
func Supported() error { return errNoCgo }

func (u *UI) show(context.Context, Model) error { return errNoCgo }
