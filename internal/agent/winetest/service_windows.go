package winetest

import (
	"os"
	"slices"

	"golang.org/x/sys/windows/svc"
)

// RunService plays a service that runs until it is stopped when the SCM
// started the test binary with arg followed by the service's name; ran is
// false otherwise. Call it from TestMain: a service callback cannot run
// before the program's init is done.
func RunService(arg string) (ran bool, err error) {
	i := slices.Index(os.Args, arg)
	if i < 0 || i+1 >= len(os.Args) {
		return false, nil
	}
	return true, svc.Run(os.Args[i+1], service{})
}

type service struct{}

func (service) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for c := range r {
		switch c.Cmd {
		case svc.Interrogate:
			s <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			s <- svc.Status{State: svc.StopPending}
			return false, 0
		}
	}
	return false, 0
}
