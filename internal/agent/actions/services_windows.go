package actions

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/steward-rmm/steward/internal/protocol"
)

func newServices() services { return scm{} }

// scm manages Windows services through the Service Control Manager.
type scm struct{}

func (scm) list(ctx context.Context) (protocol.ServiceList, error) {
	m, err := mgr.Connect()
	if err != nil {
		return protocol.ServiceList{}, fmt.Errorf("list services: connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	entries, err := enumServices(m)
	if err != nil {
		return protocol.ServiceList{}, fmt.Errorf("list services: %w", err)
	}
	list := protocol.ServiceList{Manager: protocol.ManagerSCM, Services: make([]protocol.ServiceInfo, 0, len(entries))}
	for _, e := range entries {
		if ctx.Err() != nil {
			return protocol.ServiceList{}, fmt.Errorf("list services: %w", context.Cause(ctx))
		}
		s := protocol.ServiceInfo{
			Name:        windows.UTF16PtrToString(e.ServiceName),
			DisplayName: windows.UTF16PtrToString(e.DisplayName),
			State:       scmState(svc.State(e.ServiceStatusProcess.CurrentState)),
			PID:         int32(e.ServiceStatusProcess.ProcessId),
		}
		configure(m, &s)
		list.Services = append(list.Services, s)
	}
	return list, nil
}

// enumServices lists the Win32 services with their state in one call,
// where mgr.ListServices keeps only the names.
func enumServices(m *mgr.Mgr) ([]windows.ENUM_SERVICE_STATUS_PROCESS, error) {
	var buf []byte
	for {
		var need, n uint32
		var p *byte
		if len(buf) > 0 {
			p = &buf[0]
		}
		err := windows.EnumServicesStatusEx(m.Handle, windows.SC_ENUM_PROCESS_INFO, windows.SERVICE_WIN32,
			windows.SERVICE_STATE_ALL, p, uint32(len(buf)), &need, &n, nil, nil)
		if err == nil {
			if n == 0 {
				return nil, nil
			}
			// The names point into buf, which lives as long as the
			// entries do.
			return unsafe.Slice((*windows.ENUM_SERVICE_STATUS_PROCESS)(unsafe.Pointer(&buf[0])), int(n)), nil
		}
		if !errors.Is(err, windows.ERROR_MORE_DATA) || need <= uint32(len(buf)) {
			return nil, fmt.Errorf("enumerate services: %w", err)
		}
		buf = make([]byte, need)
	}
}

// configure adds the start type and description; what the service
// manager does not tell (wine cannot read a service's config) stays empty.
func configure(m *mgr.Mgr, s *protocol.ServiceInfo) {
	h, err := m.OpenService(s.Name)
	if err != nil {
		return
	}
	defer h.Close()
	c, err := h.Config()
	if err != nil {
		return
	}
	s.Description = c.Description
	switch c.StartType {
	case mgr.StartAutomatic, windows.SERVICE_BOOT_START, windows.SERVICE_SYSTEM_START:
		s.StartType = protocol.StartAuto
	case mgr.StartManual:
		s.StartType = protocol.StartManual
	case mgr.StartDisabled:
		s.StartType = protocol.StartDisabled
	}
}

func scmState(s svc.State) string {
	switch s {
	case svc.Running:
		return protocol.ServiceRunning
	case svc.Stopped:
		return protocol.ServiceStopped
	case svc.StartPending, svc.ContinuePending:
		return protocol.ServiceStarting
	case svc.StopPending, svc.PausePending:
		return protocol.ServiceStopping
	}
	return protocol.ServiceUnknown
}

func (scm) control(ctx context.Context, name, action string) (protocol.ServiceInfo, error) {
	m, err := mgr.Connect()
	if err != nil {
		return protocol.ServiceInfo{}, fmt.Errorf("%s %s: connect to the service manager: %w", action, name, err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return protocol.ServiceInfo{}, fmt.Errorf("%s %s: %w", action, name, err)
	}
	defer s.Close()
	info := func(context.Context) (protocol.ServiceInfo, error) {
		st, err := s.Query()
		if err != nil {
			return protocol.ServiceInfo{}, fmt.Errorf("query %s: %w", name, err)
		}
		i := protocol.ServiceInfo{Name: name, State: scmState(st.State), PID: int32(st.ProcessId)}
		configure(m, &i)
		return i, nil
	}
	if action == protocol.ServiceStop || action == protocol.ServiceRestart {
		if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return protocol.ServiceInfo{}, fmt.Errorf("stop %s: %w", name, err)
		}
		stopped, err := settle(ctx, name, protocol.ServiceStopped, info)
		if err != nil || action == protocol.ServiceStop {
			return stopped, err
		}
	}
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return protocol.ServiceInfo{}, fmt.Errorf("start %s: %w", name, err)
	}
	return settle(ctx, name, protocol.ServiceRunning, info)
}
