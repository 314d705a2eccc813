package watchdog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeChild is a Child inside a synctest bubble: it exits when the test
// says, or on Terminate unless it ignores it (a hung process), or on Kill.
type fakeChild struct {
	pid             int
	exit            chan error
	ignoreTerminate bool

	mu         sync.Mutex
	terminated bool
	killed     bool
}

func newFakeChild(pid int) *fakeChild { return &fakeChild{pid: pid, exit: make(chan error, 1)} }

func (c *fakeChild) PID() int    { return c.pid }
func (c *fakeChild) Wait() error { return <-c.exit }
func (c *fakeChild) end(err error) {
	select {
	case c.exit <- err:
	default:
	}
}
func (c *fakeChild) Terminate() error {
	c.mu.Lock()
	c.terminated = true
	c.mu.Unlock()
	if !c.ignoreTerminate {
		c.end(nil)
	}
	return nil
}
func (c *fakeChild) Kill() error {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	c.end(errors.New("signal: killed"))
	return nil
}

// recorder keeps the reports and the start times of a test.
type recorder struct {
	mu      sync.Mutex
	reports []protocol.AgentHealth
	starts  []time.Time
}

func (r *recorder) report(state, reason string, restarts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, protocol.AgentHealth{State: state, Reason: reason, Restarts: restarts})
}

func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, h := range r.reports {
		s = append(s, h.State)
	}
	return s
}

// gaps returns the time between successive starts.
func (r *recorder) gaps() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var g []time.Duration
	for i := 1; i < len(r.starts); i++ {
		g = append(g, r.starts[i].Sub(r.starts[i-1]))
	}
	return g
}

// startSupervisor runs s in the bubble until the test ends; next makes
// the nth child (counting from 0).
func startSupervisor(t *testing.T, s *Supervisor, rec *recorder, next func(n int) *fakeChild) (stop func()) {
	t.Helper()
	n := 0
	s.Start = func(context.Context) (Child, error) {
		rec.mu.Lock()
		rec.starts = append(rec.starts, time.Now())
		rec.mu.Unlock()
		c := next(n)
		n++
		return c, nil
	}
	s.Report, s.Log = rec.report, discard()
	return background(t, s.Run)
}

// background runs f until the test ends or stop is called, and waits for
// it to return.
func background(t *testing.T, f func(context.Context)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		f(ctx)
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestSupervisorBackoffGrowsAndCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewSupervisor(nil, nil, time.Second, nil, nil)
		startSupervisor(t, s, rec, func(n int) *fakeChild {
			c := newFakeChild(100 + n)
			c.end(errors.New("exit status 1")) // dies at once
			return c
		})
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
		for i := range want {
			want[i] *= time.Second
		}
		got := rec.gaps()
		if len(got) < len(want) {
			t.Fatalf("restart gaps %v, want at least %v", got, want)
		}
		if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
			t.Errorf("restart gaps (-want +got):\n%s", diff)
		}
		// Running, then restarting until DownAfter restarts in a row,
		// then down.
		states := rec.states()
		if diff := cmp.Diff([]string{"running", "restarting", "running", "restarting", "running", "restarting", "running", "down"}, states[:8]); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
	})
}

func TestSupervisorBackoffResetsAfterRunningWell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewSupervisor(nil, nil, time.Second, nil, nil)
		long := newFakeChild(103)
		startSupervisor(t, s, rec, func(n int) *fakeChild {
			if n == 3 {
				return long // runs until the test ends it
			}
			c := newFakeChild(100 + n)
			c.end(errors.New("exit status 1"))
			return c
		})
		time.Sleep(time.Second + 2*time.Second + 4*time.Second + s.ResetAfter + time.Second)
		synctest.Wait()
		long.end(errors.New("exit status 2"))
		endedAt := time.Now()
		time.Sleep(time.Minute)
		synctest.Wait()
		rec.mu.Lock()
		starts := rec.starts
		rec.mu.Unlock()
		if len(starts) < 5 {
			t.Fatalf("%d starts, want 5 or more", len(starts))
		}
		if got := starts[4].Sub(endedAt); got != time.Second {
			t.Errorf("delay after a run of %v is %v, want %v (reset)", endedAt.Sub(starts[3]), got, time.Second)
		}
		// The running report after the reset carries 0 restarts.
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var sawReset bool
		for i, h := range rec.reports {
			if h.State == protocol.AgentRunning && h.Restarts == 0 && i > 0 {
				sawReset = true
			}
		}
		if !sawReset {
			t.Errorf("no running report with restarts reset to 0 in %+v", rec.reports)
		}
	})
}

func TestSupervisorRestartsHungChild(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		name := map[bool]string{false: "stops on terminate", true: "needs kill"}[ignore]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				var mu sync.Mutex
				healthy := true
				health := HealthFunc(func(ctx context.Context) error {
					mu.Lock()
					ok := healthy
					mu.Unlock()
					if ok {
						return nil
					}
					<-ctx.Done() // a hung agent does not answer
					return ctx.Err()
				})
				s := NewSupervisor(nil, health, 10*time.Second, nil, nil)
				first := newFakeChild(100)
				first.ignoreTerminate = ignore
				startSupervisor(t, s, rec, func(n int) *fakeChild {
					if n == 0 {
						return first
					}
					return newFakeChild(100 + n)
				})
				time.Sleep(15 * time.Second)
				synctest.Wait()
				if diff := cmp.Diff([]string{"running"}, rec.states()); diff != "" {
					t.Fatalf("states before the hang (-want +got):\n%s", diff)
				}
				mu.Lock()
				healthy = false
				mu.Unlock()
				hungAt := time.Now()
				// Three misses, the stop (up to 15s), one second of
				// backoff, then the new child's first check.
				time.Sleep(40*time.Second + s.StopTimeout + time.Second)
				synctest.Wait()
				mu.Lock()
				healthy = true
				mu.Unlock()
				time.Sleep(30 * time.Second)
				synctest.Wait()

				first.mu.Lock()
				terminated, killed := first.terminated, first.killed
				first.mu.Unlock()
				if !terminated || killed != ignore {
					t.Errorf("hung child terminated=%v killed=%v, want true, %v", terminated, killed, ignore)
				}
				if diff := cmp.Diff([]string{"running", "hung", "restarting", "running"}, rec.states()); diff != "" {
					t.Errorf("states (-want +got):\n%s", diff)
				}
				rec.mu.Lock()
				starts := rec.starts
				rec.mu.Unlock()
				if len(starts) != 2 {
					t.Fatalf("%d starts, want 2", len(starts))
				}
				// Checks at 20s, 30s and 40s each wait the 10s timeout for
				// an answer: hung at 50s, 35s into the hang; then the stop
				// (15s more if it takes a kill) and 1s of backoff.
				wantGap := 36 * time.Second
				if ignore {
					wantGap += s.StopTimeout
				}
				if got := starts[1].Sub(hungAt); got != wantGap {
					t.Errorf("restarted %v after the hang began, want about %v", got, wantGap)
				}
			})
		})
	}
}

func TestSupervisorStopsChildOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewSupervisor(nil, nil, time.Second, nil, nil)
		child := newFakeChild(100)
		stop := startSupervisor(t, s, rec, func(int) *fakeChild { return child })
		time.Sleep(time.Second)
		stop()
		synctest.Wait()
		child.mu.Lock()
		defer child.mu.Unlock()
		if !child.terminated || child.killed {
			t.Errorf("child terminated=%v killed=%v, want true, false", child.terminated, child.killed)
		}
		if diff := cmp.Diff([]string{"running"}, rec.states()); diff != "" {
			t.Errorf("a requested stop reported states (-want +got):\n%s", diff)
		}
	})
}

// testLogger logs text into b under mu.
func testLogger(mu *sync.Mutex, b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu, b}, nil))
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name   string
		writes []string
		want   []string // the Writes that reach the log
	}{
		{"whole lines", []string{"a\nb\n"}, []string{"a\n", "b\n"}},
		{"split line", []string{"ab", "c\nd", "e\n"}, []string{"abc\n", "de\n"}},
		{"unended last line", []string{"a\nb"}, []string{"a\n", "b\n"}},
		{"long line at once", []string{long + "\n"}, []string{long + "\n"}},
		{"long unended line not held", []string{long, "y\n"}, []string{long, "y\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			l := &lineWriter{w: writeFunc(func(p []byte) { got = append(got, string(p)) })}
			for _, w := range tt.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			l.flush()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

type writeFunc func([]byte)

func (f writeFunc) Write(p []byte) (int, error) {
	f(p)
	return len(p), nil
}
