//go:build !linux && !windows

package metrics

import (
	"context"

	"github.com/shirou/gopsutil/v4/process"
)

func readProcesses(ctx context.Context, v values) error {
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return err
	}
	v.set("processes.count", "", float64(len(pids)))
	return nil
}
