//go:build !windows

package service

import "context"

// Serve runs body as role's service when the process was started by the
// Windows SCM. Elsewhere the service managers need nothing of the process
// (systemd and launchd send SIGTERM and read the exit code), so isService
// is false and the caller runs body itself.
func Serve(context.Context, Role, Body) (code int, isService bool) { return 0, false }
