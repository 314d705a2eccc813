//go:build !windows

package metrics

import (
	"context"

	"github.com/shirou/gopsutil/v4/load"
)

func readLoad(ctx context.Context, v values) error {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return err
	}
	v.set("load.1", "", a.Load1)
	v.set("load.5", "", a.Load5)
	v.set("load.15", "", a.Load15)
	return nil
}
