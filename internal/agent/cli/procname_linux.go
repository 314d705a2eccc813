package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// processName is the name of process pid's program, as the kernel keeps it
// (at most 15 bytes: "steward-agent").
func processName(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", fmt.Errorf("process %d name: %w", pid, err)
	}
	return strings.TrimSpace(string(b)), nil
}
