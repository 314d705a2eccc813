package ipc

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// ErrImpostor reports that the process serving the endpoint runs as
// another account than the agent's: a local user took the endpoint's name
// while the agent was down (squatting). Nothing is sent to it and nothing
// it says is believed.
var ErrImpostor = errors.New("ipc: the endpoint is not served by the agent's account")

// Owner is the account the agent's endpoint must be served by. A client
// checks the process at the other end against it before it sends a
// request.
type Owner struct {
	// SID is the Windows account's SID; LocalSystem is S-1-5-18.
	SID string
	// UID is the Unix user id; root is 0.
	UID int
}

// LocalSystemSID is the SID of LocalSystem, the account of the agent
// service on Windows.
const LocalSystemSID = "S-1-5-18"

// SystemOwner is the account the agent service runs as: LocalSystem on
// Windows, root on Unix.
func SystemOwner() Owner { return Owner{SID: LocalSystemSID, UID: 0} }

// CurrentOwner is this process's account: the owner to expect from an
// agent run in the foreground by the same user (tests, a second agent).
func CurrentOwner() (Owner, error) { return currentOwner() }

func (o Owner) String() string {
	if o.SID != "" {
		return o.SID
	}
	return "uid " + strconv.Itoa(o.UID)
}

// checkServer checks that the process serving c runs as want.
func checkServer(c net.Conn, want Owner) error {
	got, pid, err := serverOwner(c)
	if err != nil {
		return fmt.Errorf("identify the server: %w", err)
	}
	if !got.is(want) {
		return fmt.Errorf("%w: process %d runs as %s, want %s", ErrImpostor, pid, got, want)
	}
	return nil
}
