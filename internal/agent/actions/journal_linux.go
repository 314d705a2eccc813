package actions

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newEventLog() eventLog { return journal{} }

// journal reads the systemd journal through journalctl.
type journal struct{}

func (journal) read(ctx context.Context, q protocol.EventLogQuery) (protocol.EventLog, error) {
	out, err := runTool(ctx, "journalctl", "-r", "-n", strconv.Itoa(q.Count()),
		"-p", "0.."+strconv.Itoa(journalPriority(q.MinLevel())), "-o", "json", "--no-pager", "-q")
	if errors.Is(err, errNoTool) {
		return protocol.EventLog{}, errors.New("read the system log: this machine has no systemd journal (journalctl is not installed)")
	}
	if err != nil {
		return protocol.EventLog{}, fmt.Errorf("read the system log: %w", err)
	}
	return protocol.EventLog{Source: "systemd journal", Entries: parseJournal(out, q.MinLevel(), q.Count())}, nil
}
