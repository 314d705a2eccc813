package inventory

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// toolTimeout bounds each system tool the inventory runs (rpm on a large
// database, system_profiler, diskutil), against one that hangs.
const toolTimeout = 2 * time.Minute

// toolWaitDelay bounds the wait for a tool's output once it is killed: a
// helper it started may still hold the pipe open.
const toolWaitDelay = 5 * time.Second

// run runs a system tool and returns its standard output; a failure names
// the tool and the first line of what it said.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	cmd.WaitDelay = toolWaitDelay
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, firstLine(stderr.String()))
	}
	return out, nil
}

// firstLine is the first non-empty line of a tool's error output, to put
// in an error message.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return "no error output"
}
