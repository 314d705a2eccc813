package watchdog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// SystemServices returns the service control manager: watched services
// are SCM service names ("Spooler").
func SystemServices() ServiceManager { return scm{} }

// scm is the ServiceManager of Windows services. It reports what the SCM
// says; the callers check the PID, since the SCM's state can be stale (a
// crashed service stays "running" under wine).
type scm struct{}

func (scm) open(name string) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the service manager: %w", err)
	}
	s, err := m.OpenService(name)
	if err != nil {
		m.Disconnect()
		return nil, nil, err
	}
	return m, s, nil
}

func (c scm) State(_ context.Context, name string) (ServiceState, error) {
	m, s, err := c.open(name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return ServiceState{}, nil
	}
	if err != nil {
		return ServiceState{}, fmt.Errorf("open service %s: %w", name, err)
	}
	defer m.Disconnect()
	defer s.Close()
	q, err := s.Query()
	if err != nil {
		return ServiceState{}, fmt.Errorf("query service %s: %w", name, err)
	}
	st := ServiceState{Exists: true, Running: q.State == svc.Running}
	if st.Running {
		st.PID = int(q.ProcessId)
	}
	return st, nil
}

func (c scm) Start(_ context.Context, name string) error {
	m, s, err := c.open(name)
	if err != nil {
		return fmt.Errorf("start service %s: %w", name, err)
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil {
		return fmt.Errorf("start service %s: %w", name, err)
	}
	return nil
}

// Stop asks the service to stop and waits until the SCM says it has, or
// ctx ends.
func (c scm) Stop(ctx context.Context, name string) error {
	m, s, err := c.open(name)
	if err != nil {
		return fmt.Errorf("stop service %s: %w", name, err)
	}
	defer m.Disconnect()
	defer s.Close()
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("stop service %s: %w", name, err)
	}
	err = waitFor(ctx, func() (bool, error) {
		q, err := s.Query()
		return err == nil && q.State == svc.Stopped, err
	})
	if err != nil {
		return fmt.Errorf("stop service %s: %w", name, err)
	}
	return nil
}

// waitFor polls cond until it holds or ctx is done; service managers
// have no change notification we can wait on portably.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}
