package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// PowerLogEnv is the test hook: when set, the executor appends the command
// it would run to this file instead of running it, so end-to-end tests
// never take the machine down.
const PowerLogEnv = "STEWARD_AGENT_POWER_LOG"

// NewExecutor returns the operating system's executor, or the test hook's
// when getenv(PowerLogEnv) names a file.
func NewExecutor(getenv func(string) string) Executor {
	if path := getenv(PowerLogEnv); path != "" {
		return logExecutor{path: path}
	}
	return osExecutor{}
}

// osExecutor runs the system's commands for a power action, in turn
// until one succeeds (powerCommands).
type osExecutor struct{}

func (osExecutor) Execute(ctx context.Context, action string) error {
	var errs []error
	for _, c := range powerCommands(action) {
		_, err := runTool(ctx, c[0], c[1:]...)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%s: %w", action, errors.Join(errs...))
}

// logExecutor appends the first command it would run, one line, to path.
type logExecutor struct{ path string }

func (l logExecutor) Execute(_ context.Context, action string) error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("power log: %w", err)
	}
	_, err = fmt.Fprintln(f, strings.Join(powerCommands(action)[0], " "))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("power log: %w", err)
	}
	return nil
}
