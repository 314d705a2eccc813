package actions

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/steward-rmm/steward/internal/agent/winetest"
	"github.com/steward-rmm/steward/internal/protocol"
)

// serviceArg makes the test binary a service (the SCM starts it with it):
// it runs until told to stop.
const serviceArg = "actions-test-service"

// runAsService plays the test service when the SCM started the test
// binary as one.
func runAsService() {
	if ran, err := winetest.RunService(serviceArg); ran {
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestSCMControl(t *testing.T) {
	m, err := mgr.Connect()
	if err != nil {
		t.Skipf("no access to the service manager (not elevated?): %v", err)
	}
	defer m.Disconnect()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("stewardactions%d", os.Getpid())
	s, err := m.CreateService(name, exe, mgr.Config{DisplayName: "Steward actions test " + name, StartType: mgr.StartManual,
		ErrorControl: mgr.ErrorNormal}, serviceArg, name)
	if err != nil {
		t.Fatalf("create the test service: %v", err)
	}
	t.Cleanup(func() {
		s.Control(svc.Stop)
		s.Delete()
		s.Close()
	})
	r := testRunner(t)
	control := func(action string) protocol.ServiceInfo {
		t.Helper()
		args, _ := json.Marshal(protocol.ServiceControl{Name: name, Action: action})
		out, err := r.Run(t.Context(), protocol.CommandServiceControl, args)
		if err != nil {
			b, _ := os.ReadFile(exe + ".err")
			t.Fatalf("%s: %v (service said %q)", action, err, b)
		}
		var info protocol.ServiceInfo
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	if got := control(protocol.ServiceStart); got.State != protocol.ServiceRunning || got.PID == 0 {
		t.Errorf("after start: %+v, want running with a PID", got)
	}
	out, err := r.Run(t.Context(), protocol.CommandServices, nil)
	if err != nil {
		t.Fatal(err)
	}
	var list protocol.ServiceList
	json.Unmarshal(out, &list)
	i := slices.IndexFunc(list.Services, func(s protocol.ServiceInfo) bool { return s.Name == name })
	if list.Manager != protocol.ManagerSCM || i < 0 {
		t.Fatalf("the test service is not among the %d services listed by %q", len(list.Services), list.Manager)
	}
	if got := list.Services[i]; got.DisplayName != "Steward actions test "+name || got.State != protocol.ServiceRunning {
		t.Errorf("listed as %+v, want its display name, running", got)
	}
	if got := control(protocol.ServiceRestart); got.State != protocol.ServiceRunning {
		t.Errorf("after restart: %+v, want running", got)
	}
	if got := control(protocol.ServiceStop); got.State != protocol.ServiceStopped {
		t.Errorf("after stop: %+v, want stopped", got)
	}
	args, _ := json.Marshal(protocol.ServiceControl{Name: name + "-missing", Action: protocol.ServiceStart})
	if _, err := r.Run(t.Context(), protocol.CommandServiceControl, args); err == nil {
		t.Errorf("starting a service that does not exist worked")
	}
}
