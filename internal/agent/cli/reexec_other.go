//go:build !unix

package cli

import "errors"

// reexec: Windows cannot replace a running process's image.
func reexec(string) error {
	return errors.New("a process cannot execute another binary in its place on this system")
}
