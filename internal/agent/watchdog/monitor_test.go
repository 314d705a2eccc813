package watchdog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeService is an AgentService whose processes live in a map.
type fakeService struct {
	mu       sync.Mutex
	running  bool // what the service manager says
	pid      int
	alive    map[int]bool // what the processes are
	nextPID  int
	startErr error
	starts   []time.Time
	stops    int
}

func (f *fakeService) Query(context.Context) (bool, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.pid, nil
}

func (f *fakeService) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, time.Now())
	if f.startErr != nil {
		return f.startErr
	}
	f.nextPID++
	f.running, f.pid = true, f.nextPID
	f.alive[f.pid] = true
	return nil
}

func (f *fakeService) Stop(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops++
	f.running = false
	delete(f.alive, f.pid)
	return nil
}

func (f *fakeService) isAlive(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[pid]
}

// kill ends the process without the service manager noticing.
func (f *fakeService) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.alive, f.pid)
}

func startMonitor(t *testing.T, svc *fakeService, health HealthChecker, rec *recorder) *Monitor {
	t.Helper()
	m := NewMonitor(svc, health, func() time.Duration { return 30 * time.Second }, rec.report, discard())
	m.Alive = svc.isAlive
	background(t, m.Run)
	return m
}

func TestMonitorRestartsAProcessTheServiceManagerThinksRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := &fakeService{running: true, pid: 7, alive: map[int]bool{7: true}, nextPID: 100}
		rec := &recorder{}
		startMonitor(t, svc, nil, rec)
		synctest.Wait()
		svc.kill() // the SCM still says running, with a dead PID
		time.Sleep(31 * time.Second)
		synctest.Wait()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"running", "restarting", "running"}, rec.states()); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		svc.mu.Lock()
		defer svc.mu.Unlock()
		if svc.stops != 1 || len(svc.starts) != 1 || !svc.alive[svc.pid] {
			t.Errorf("stops %d, starts %d, new pid alive %v; want 1, 1, true", svc.stops, len(svc.starts), svc.alive[svc.pid])
		}
		if r := rec.reports[1].Reason; !strings.Contains(r, "process 7 is gone") {
			t.Errorf("reason %q does not name the dead process", r)
		}
	})
}

func TestMonitorBacksOffWhileStartFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := &fakeService{alive: map[int]bool{}, startErr: errors.New("access denied")}
		rec := &recorder{}
		startMonitor(t, svc, nil, rec)
		time.Sleep(4 * time.Minute)
		synctest.Wait()
		svc.mu.Lock()
		starts := svc.starts
		svc.mu.Unlock()
		var gaps []time.Duration
		for i := 1; i < len(starts); i++ {
			gaps = append(gaps, starts[i].Sub(starts[i-1]))
		}
		want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
		for i := range want {
			want[i] *= time.Second
		}
		if len(gaps) < len(want) {
			t.Fatalf("start gaps %v, want at least %v", gaps, want)
		}
		if diff := cmp.Diff(want, gaps[:len(want)]); diff != "" {
			t.Errorf("start gaps (-want +got):\n%s", diff)
		}
		for _, h := range rec.reports {
			if h.State != "down" || !strings.Contains(h.Reason, "access denied") {
				t.Errorf("report %+v, want down with the start error", h)
			}
		}
	})
}

func TestMonitorRestartsHungAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := &fakeService{running: true, pid: 7, alive: map[int]bool{7: true}, nextPID: 100}
		rec := &recorder{}
		var mu sync.Mutex
		hungPID := 0
		health := HealthFunc(func(ctx context.Context) error {
			_, pid, _ := svc.Query(ctx)
			mu.Lock()
			hung := pid == hungPID
			mu.Unlock()
			if hung {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
		startMonitor(t, svc, health, rec)
		synctest.Wait()
		mu.Lock()
		hungPID = 7
		mu.Unlock()
		time.Sleep(3*40*time.Second + time.Second)
		synctest.Wait()
		time.Sleep(40 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"running", "restarting", "running"}, rec.states()); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		if r := rec.reports[1].Reason; !strings.HasPrefix(r, "hung: no answer to health") {
			t.Errorf("reason %q, want the health misses", r)
		}
		svc.mu.Lock()
		defer svc.mu.Unlock()
		if svc.stops != 1 || len(svc.starts) != 1 {
			t.Errorf("stops %d, starts %d; want 1, 1", svc.stops, len(svc.starts))
		}
	})
}

func TestMonitorResetsRestartsAfterRunningWell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := &fakeService{alive: map[int]bool{}, nextPID: 100}
		rec := &recorder{}
		m := startMonitor(t, svc, nil, rec)
		synctest.Wait() // stopped: started once
		time.Sleep(m.ResetAfter + time.Minute)
		synctest.Wait()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		last := rec.reports[len(rec.reports)-1]
		if last.State != "running" || last.Restarts != 0 {
			t.Errorf("last report %+v, want running with 0 restarts", last)
		}
		if rec.reports[0].State != "restarting" || rec.reports[0].Restarts != 1 {
			t.Errorf("first report %+v, want restarting with 1 restart", rec.reports[0])
		}
	})
}
