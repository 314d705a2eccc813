//go:build !unix

package server

import "log/slog"

// raiseFileLimit has nothing to do where the OS has no such limit.
func raiseFileLimit(*slog.Logger) {}
