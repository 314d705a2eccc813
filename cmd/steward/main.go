// Command steward is the Steward server: dashboard, JSON API, agent gateway
// and console tools.
package main

import (
	"os"

	"github.com/steward-rmm/steward/internal/cli"
)

func main() { os.Exit(cli.Main()) }
