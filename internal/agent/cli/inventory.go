package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/steward-rmm/steward/internal/agent/inventory"
	"github.com/steward-rmm/steward/internal/protocol"
)

const inventoryHelp = `Usage: steward-agent inventory

Collects this machine's hardware, operating system and installed software
as the agent reports them to the server, and prints the report as JSON on
standard output. Nothing is sent; no enrollment is needed. Parts that could
not be read are listed under "errors". Run it as root/Administrator to see
what the service sees (some fields, such as the serial number, need it).

Exit codes: 0 printed, 1 failed to print, 2 usage error.
`

func printInventory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := newFlags("inventory", inventoryHelp, stderr)
	if code, ok := parse(fl, args); !ok {
		return code
	}
	inv := inventory.Collect(ctx, protocol.InventoryRequest)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(inv); err != nil {
		fmt.Fprintf(stderr, "steward-agent inventory: %v\n", err)
		return exitFail
	}
	return exitOK
}
