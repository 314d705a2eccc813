//go:build !linux && !windows && !darwin

package inventory

import (
	"context"

	"github.com/steward-rmm/steward/internal/protocol"
)

// collectPlatform has nothing to add on other systems: gopsutil's part is
// all there is.
func collectPlatform(context.Context, *protocol.Inventory, *errorList) {}
