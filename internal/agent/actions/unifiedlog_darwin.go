package actions

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newEventLog() eventLog { return unifiedLog{} }

// unifiedLog reads the last hour of the macOS unified log through `log
// show`, as it streams.
type unifiedLog struct{}

func (unifiedLog) read(ctx context.Context, q protocol.EventLogQuery) (protocol.EventLog, error) {
	args := []string{"show", "--style", "ndjson", "--last", "1h"}
	switch q.MinLevel() {
	case protocol.LogDebug:
		args = append(args, "--info", "--debug")
	case protocol.LogInfo:
		args = append(args, "--info")
	default:
		args = append(args, "--predicate", unifiedPredicates[q.MinLevel()])
	}
	cmd := exec.CommandContext(ctx, "/usr/bin/log", args...)
	cmd.WaitDelay = toolWaitDelay
	out, err := cmd.StdoutPipe()
	if err != nil {
		return protocol.EventLog{}, fmt.Errorf("read the system log: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return protocol.EventLog{}, fmt.Errorf("read the system log: %w", err)
	}
	entries := parseUnifiedLog(out, q.MinLevel(), q.Count())
	if err := cmd.Wait(); err != nil && len(entries) == 0 {
		return protocol.EventLog{}, fmt.Errorf("read the system log: log show: %w", err)
	}
	return protocol.EventLog{Source: "unified log", Entries: entries}, nil
}
