package updates

import (
	"cmp"
	"slices"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Role is one process that runs an agent's binary and the version it
// runs: the agent itself, its watchdog, and a tray per user session.
type Role struct {
	// Name is "agent", "watchdog" or "tray:USER" ("tray:USER@SESSION"
	// when the user has trays in several sessions).
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Roles lists what each role of a runs, the agent first, and whether they
// all run the agent's version: an update is complete only then. The
// watchdog counts once it reported its version, each tray once it told
// the agent.
func Roles(a store.Agent) (roles []Role, agree bool) {
	agent := strings.TrimPrefix(a.Version, "v")
	roles = []Role{{Name: "agent", Version: agent}}
	if a.Watchdog != nil && a.Watchdog.Version != "" {
		roles = append(roles, Role{Name: "watchdog", Version: a.Watchdog.Version})
	}
	trays := slices.SortedFunc(slices.Values(a.Trays), func(x, y protocol.TrayInfo) int {
		return cmp.Or(cmp.Compare(x.User, y.User), cmp.Compare(x.Session, y.Session))
	})
	perUser := map[string]int{}
	for _, t := range trays {
		perUser[t.User]++
	}
	for _, t := range trays {
		name := "tray:" + t.User
		if perUser[t.User] > 1 {
			name += "@" + t.Session
		}
		roles = append(roles, Role{Name: name, Version: strings.TrimPrefix(t.Version, "v")})
	}
	agree = true
	for _, r := range roles {
		agree = agree && r.Version == agent
	}
	return roles, agree
}
