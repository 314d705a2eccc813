package control

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeSchedules holds dues until acknowledged, like schedule.Scheduler.
type fakeSchedules struct {
	mu      sync.Mutex
	pending []protocol.ScheduleDue
	ready   chan struct{}
	acks    chan protocol.ScheduleAck
}

func (f *fakeSchedules) Pending() []protocol.ScheduleDue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]protocol.ScheduleDue{}, f.pending...)
}

func (f *fakeSchedules) Ready() <-chan struct{} { return f.ready }

func (f *fakeSchedules) Acked(_ context.Context, a protocol.ScheduleAck) {
	f.mu.Lock()
	f.pending = nil
	f.mu.Unlock()
	f.acks <- a
}

func (f *fakeSchedules) add(d protocol.ScheduleDue) {
	f.mu.Lock()
	f.pending = append(f.pending, d)
	f.mu.Unlock()
	f.ready <- struct{}{}
}

// expectDue reads messages up to the next schedule_due.
func (sc *serverConn) expectDue(t *testing.T) protocol.ScheduleDue {
	t.Helper()
	for {
		env, err := sc.read(t)
		if err != nil {
			t.Fatalf("waiting for a schedule_due: %v", err)
		}
		switch env.Type {
		case protocol.TypeHeartbeat, protocol.TypePolicyAck:
			continue
		case protocol.TypeScheduleDue:
			d, err := protocol.DecodeScheduleDue(env.Data)
			if err != nil {
				t.Fatalf("schedule_due %s: %v", env.Data, err)
			}
			return d
		default:
			t.Fatalf("agent sent %q, want %q", env.Type, protocol.TypeScheduleDue)
		}
	}
}

// A due found while offline goes after the welcome, again on the next
// connection until answered; one found while connected goes at once; the
// answer reaches the schedules.
func TestScheduleDues(t *testing.T) {
	due := protocol.ScheduleDue{Name: "nightly", Occurrence: "2026-12-04T02:30:00", Due: time.Date(2026, 12, 4, 7, 30, 0, 0, time.UTC)}
	sched := &fakeSchedules{pending: []protocol.ScheduleDue{due}, ready: make(chan struct{}, 1), acks: make(chan protocol.ScheduleAck, 1)}
	fs := newFakeServer(t, nil)
	startAgent(t, fs, func(o *Options) { o.Schedules = sched })

	sc := fs.next(t)
	sc.handshake(t, quiet)
	if diff := cmp.Diff(due, sc.expectDue(t)); diff != "" {
		t.Fatalf("due (-want +got):\n%s", diff)
	}
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	if got := sc.expectDue(t); got.Occurrence != due.Occurrence {
		t.Fatalf("after reconnecting got %+v, want %+v again", got, due)
	}
	ack := protocol.ScheduleAck{Name: due.Name, Occurrence: due.Occurrence, JobID: "job-1"}
	sc.send(t, protocol.TypeScheduleAck, ack)
	select {
	case got := <-sched.acks:
		if got != ack {
			t.Errorf("Acked(%+v), want %+v", got, ack)
		}
	case <-time.After(waitLimit):
		t.Fatal("the ack did not reach the schedules")
	}

	next := protocol.ScheduleDue{Name: "nightly", Occurrence: "2026-12-05T02:30:00", Due: due.Due.Add(24 * time.Hour)}
	sched.add(next)
	if got := sc.expectDue(t); got.Occurrence != next.Occurrence {
		t.Fatalf("while connected got %+v, want %+v", got, next)
	}
}
