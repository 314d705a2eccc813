// Package packaging holds the files the agent's installers are built from:
// the systemd units and maintainer scripts of the .deb and .rpm, and the WiX
// source of the MSI (a text/template). cmd/steward-package builds the
// packages from them; neither the server nor the agent links this package.
package packaging

import "embed"

// Files holds linux/ (units and package scripts) and windows/ (the MSI
// template).
//
//go:embed linux windows
var Files embed.FS
