// Package agent is the root of the steward-agent tree. The agent binary
// imports only packages under internal/agent and the shared wire contract in
// internal/protocol; it never links server code.
//
// Subpackages:
//   - cli: the command line (install, run, status, version)
//   - config: the enrollment config and run-state files on disk
//   - enroll: the enrollment exchange with the server
//   - control: the WebSocket control connection
//   - facts: host facts reported to the server
//   - backoff: reconnect delays
package agent

// Version is the agent's version, reported in facts and by
// `steward-agent version`. Release builds set it with
// -ldflags "-X github.com/steward-rmm/steward/internal/agent.Version=v1.2.3".
var Version = "dev"

// ReleaseKeys are the release public keys built into the agent
// ("steward-release-ed25519 BASE64", comma-separated), set at build time
// with -ldflags "-X github.com/steward-rmm/steward/internal/agent.ReleaseKeys=...";
// updates must be signed by one of them or by a key the config names.
// Version and ReleaseKeys are the only package-level variables in the
// agent tree.
var ReleaseKeys = ""
