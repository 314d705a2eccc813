// Package actions runs the agent's quick actions, the typed commands a
// technician uses on one machine without writing a script: list and end
// processes, list and control services, read the newest entries of the
// system log, and reboot or shut down the machine (protocol.CommandProcesses
// and the others). Each action's output fits one control message
// (protocol.MaxOutputBytes): long fields are shortened and the least
// interesting entries dropped, with Truncated set.
package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of one action, from the command's arrival: listing processes
// samples CPU for a second, a service may take its time to stop, and the
// journal of a busy machine is slow to read backwards.
var timeouts = map[string]time.Duration{
	protocol.CommandProcesses:      30 * time.Second,
	protocol.CommandProcessEnd:     30 * time.Second,
	protocol.CommandServices:       60 * time.Second,
	protocol.CommandServiceControl: 2 * time.Minute,
	protocol.CommandEventLog:       time.Minute,
	protocol.CommandPower:          10 * time.Second,
}

// Runner runs quick actions. Create it with New.
type Runner struct {
	log      *slog.Logger
	power    *Power
	procs    procTable
	services services
	events   eventLog
	// sample is how long CPU use is measured when listing processes.
	sample time.Duration
	self   int32 // this process, never ended
}

// New returns a Runner; power schedules CommandPower (nil answers it as
// unsupported).
func New(log *slog.Logger, power *Power) *Runner {
	return &Runner{log: log, power: power, procs: newProcTable(), services: newServices(), events: newEventLog(),
		sample: time.Second, self: int32(os.Getpid())}
}

// Timeout is how long the action name may take; ok is false when name is
// not a quick action.
func (r *Runner) Timeout(name string) (d time.Duration, ok bool) {
	d, ok = timeouts[name]
	if name == protocol.CommandPower && r.power == nil {
		return 0, false
	}
	return d, ok
}

// Run runs the action name with its args and returns its encoded output.
// The error is for the technician: it says what was refused or failed.
func (r *Runner) Run(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	out, err := r.run(ctx, name, args)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode %s output: %w", name, err)
	}
	if len(data) > protocol.MaxOutputBytes {
		// The fitting below keeps under the bound; this says it did not.
		return nil, fmt.Errorf("%s output is %d bytes, limit %d", name, len(data), protocol.MaxOutputBytes)
	}
	return data, nil
}

func (r *Runner) run(ctx context.Context, name string, args json.RawMessage) (any, error) {
	switch name {
	case protocol.CommandProcesses:
		return r.processes(ctx)
	case protocol.CommandProcessEnd:
		req, err := protocol.DecodeProcessEnd(args)
		if err != nil {
			return nil, err
		}
		return r.endProcess(ctx, req)
	case protocol.CommandServices:
		list, err := r.services.list(ctx)
		if err != nil {
			return nil, err
		}
		return fitServices(list), nil
	case protocol.CommandServiceControl:
		req, err := protocol.DecodeServiceControl(args)
		if err != nil {
			return nil, err
		}
		return r.services.control(ctx, req.Name, req.Action)
	case protocol.CommandEventLog:
		q, err := protocol.DecodeEventLogQuery(args)
		if err != nil {
			return nil, err
		}
		l, err := r.events.read(ctx, q)
		if err != nil {
			return nil, err
		}
		return fitLog(l), nil
	case protocol.CommandPower:
		if r.power != nil {
			now := time.Now()
			req, err := protocol.DecodePowerRequest(args, now)
			if err != nil {
				return nil, err
			}
			return r.power.Request(ctx, req, now)
		}
	}
	return nil, fmt.Errorf("%s is not a quick action", name)
}

// services lists and controls the machine's services (per OS).
type services interface {
	list(ctx context.Context) (protocol.ServiceList, error)
	control(ctx context.Context, name, action string) (protocol.ServiceInfo, error)
}

// eventLog reads the system log (per OS).
type eventLog interface {
	read(ctx context.Context, q protocol.EventLogQuery) (protocol.EventLog, error)
}
