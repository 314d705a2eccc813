package metrics

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows"
)

// readProcesses counts the running processes. EnumProcesses fills a
// buffer of process IDs; a full buffer may mean there are more, so it is
// retried larger. gopsutil's process package would do the same and link
// regexp.
func readProcesses(ctx context.Context, v values) error {
	ids := make([]uint32, 1024)
	for {
		var got uint32
		if err := windows.EnumProcesses(ids, &got); err != nil {
			return fmt.Errorf("count processes: %w", err)
		}
		if n := int(got) / 4; n < len(ids) {
			v.set("processes.count", "", float64(n))
			return nil
		}
		if len(ids) >= 1<<20 {
			return fmt.Errorf("count processes: more than %d", len(ids))
		}
		ids = make([]uint32, 2*len(ids))
	}
}
