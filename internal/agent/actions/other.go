//go:build !linux && !darwin && !windows

package actions

import (
	"context"
	"errors"

	"github.com/steward-rmm/steward/internal/protocol"
)

// errUnsupported answers the service and log actions on systems the agent
// has no service manager or log reader for.
var errUnsupported = errors.New("not supported on this operating system")

func newServices() services { return unsupported{} }
func newEventLog() eventLog { return unsupported{} }

type unsupported struct{}

func (unsupported) list(context.Context) (protocol.ServiceList, error) {
	return protocol.ServiceList{}, errUnsupported
}

func (unsupported) control(context.Context, string, string) (protocol.ServiceInfo, error) {
	return protocol.ServiceInfo{}, errUnsupported
}

func (unsupported) read(context.Context, protocol.EventLogQuery) (protocol.EventLog, error) {
	return protocol.EventLog{}, errUnsupported
}
