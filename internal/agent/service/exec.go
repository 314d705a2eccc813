package service

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// runCommand runs a service manager's tool, returning its combined output;
// a failure carries the output, which is where the tool says why.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}
