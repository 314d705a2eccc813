//go:build unix

package cli

import (
	"os"
	"syscall"
)

// reexec replaces this process with binary, same arguments and
// environment; it returns only on failure.
func reexec(binary string) error {
	return syscall.Exec(binary, append([]string{binary}, os.Args[1:]...), os.Environ())
}
