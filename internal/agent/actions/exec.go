package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Bounds of the system tools the actions run.
const (
	// maxToolOutput bounds what is read of a tool's output: a thousand
	// journal entries in JSON fit well within it.
	maxToolOutput = 32 << 20
	// toolWaitDelay bounds the wait for a killed tool's output: a helper
	// it started may still hold the pipe open.
	toolWaitDelay = 5 * time.Second
)

// errNoTool says a system tool the action needs is not installed.
var errNoTool = errors.New("not installed")

// runTool runs a system tool and returns its standard output, at most
// maxToolOutput bytes of it; a failure names the tool and the first line
// of what it said.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, errNoTool)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = &limitedWriter{w: &stdout, left: maxToolOutput}
	cmd.Stderr = &limitedWriter{w: &stderr, left: 4 << 10}
	cmd.WaitDelay = toolWaitDelay
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, firstLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// firstLine is the first non-empty line of a tool's error output.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return "no error output"
}

// limitedWriter passes on the first left bytes and drops the rest, so
// a tool that writes without end costs bounded memory.
type limitedWriter struct {
	w    io.Writer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	n := min(len(p), l.left)
	l.w.Write(p[:n])
	l.left -= n
	return len(p), nil
}
