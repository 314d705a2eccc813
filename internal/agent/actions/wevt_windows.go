package actions

import (
	"context"
	"fmt"
	"strconv"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newEventLog() eventLog { return wevtutil{} }

// wevtutil reads the Windows System event log through wevtutil.exe, which
// renders each event's message in the machine's language.
type wevtutil struct{}

func (wevtutil) read(ctx context.Context, q protocol.EventLogQuery) (protocol.EventLog, error) {
	args := []string{"qe", "System", "/rd:true", "/c:" + strconv.Itoa(q.Count()), "/f:RenderedXml"}
	if f, ok := wevtLevels[q.MinLevel()]; ok {
		args = append(args, "/q:"+f)
	}
	out, err := runTool(ctx, "wevtutil.exe", args...)
	if err != nil {
		return protocol.EventLog{}, fmt.Errorf("read the system log: %w", err)
	}
	return protocol.EventLog{Source: "Windows System log", Entries: parseWevtutil(out, q.MinLevel(), q.Count())}, nil
}
