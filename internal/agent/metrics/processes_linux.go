package metrics

import (
	"context"
	"fmt"
	"os"
)

// readProcesses counts the numeric entries of /proc, one a process: what
// gopsutil's process package would do, without linking it.
func readProcesses(ctx context.Context, v values) error {
	n, err := countProcesses("/proc")
	if err != nil {
		return err
	}
	v.set("processes.count", "", float64(n))
	return nil
}

func countProcesses(proc string) (int, error) {
	d, err := os.Open(proc)
	if err != nil {
		return 0, fmt.Errorf("count processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("count processes: %w", err)
	}
	n := 0
	for _, name := range names {
		if isPID(name) {
			n++
		}
	}
	return n, nil
}

// isPID reports whether a /proc entry names a process: all decimal digits.
func isPID(name string) bool {
	for i := range len(name) {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return name != ""
}
