// Command steward-package builds the agent's installers from the agent
// binaries: an MSI per Windows architecture (wixl, from msitools), a .deb
// and an .rpm per Linux architecture (nfpm, as a library), and the
// SHA256SUMS file the dashboard shows. With a code-signing certificate it
// signs the Windows binary and the MSI with osslsigncode. Neither the server
// nor the agent links it; `make packages` runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `steward-package builds the Steward agent's installers.

Usage:
  steward-package msi --exe FILE --arch x64|arm64 --version V --out FILE [signing flags]
  steward-package deb --bin FILE --arch amd64|arm64 --version V --out FILE
  steward-package rpm --bin FILE --arch amd64|arm64 --version V --out FILE
  steward-package sign --in FILE --out FILE [signing flags]
  steward-package sums DIR

Signing (msi, sign) happens when a certificate is configured, by flag or
environment: --sign-cert/STEWARD_SIGN_CERT and --sign-key/STEWARD_SIGN_KEY
(PEM), or --sign-pkcs12/STEWARD_SIGN_PKCS12 with the password in
STEWARD_SIGN_PASSWORD; --sign-timestamp/STEWARD_SIGN_TIMESTAMP names an
RFC 3161 time-stamp server. The password is never taken from a flag, so it
does not show in the process list.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one command and returns the exit code: 0 done, 1 failed,
// 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "msi":
		err = runMSI(ctx, args[1:], stdout, stderr, getenv)
	case "deb", "rpm":
		err = runLinux(args[0], args[1:], stdout, stderr)
	case "sign":
		err = runSign(ctx, args[1:], stdout, stderr, getenv)
	case "sums":
		err = runSums(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "steward-package: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if u, ok := err.(usageError); ok {
		fmt.Fprintf(stderr, "steward-package %s: %s\n", args[0], string(u))
		return 2
	}
	fmt.Fprintf(stderr, "steward-package %s: %v\n", args[0], err)
	return 1
}

// usageError is a mistake in the command line.
type usageError string

func (e usageError) Error() string { return string(e) }
