package update

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// newTestRunner returns a Runner of the fixture's updater whose reports
// go to report, without spread, and a channel of its restart reasons.
func newTestRunner(f *fixture, report func(protocol.UpdateStatus)) (*Runner, chan string) {
	restarted := make(chan string, 1)
	return &Runner{U: f.u, Log: f.u.Log,
		Report: func(s protocol.UpdateStatus, done func()) {
			report(s)
			if done != nil {
				done()
			}
		},
		Restart: func(reason string) { restarted <- reason },
		Rand:    func(int64) int64 { return 0 },
	}, restarted
}

func TestRunner(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	var (
		mu   sync.Mutex
		sent []string
	)
	r, restarted := newTestRunner(f, func(s protocol.UpdateStatus) {
		mu.Lock()
		sent = append(sent, s.Step)
		mu.Unlock()
	})
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// A refusal answers the command at once.
	old := offerFor(t, releasePriv, "r0", "0.9.0", "linux", "amd64", newBin)
	var refused *Refused
	if err := r.Offer(t.Context(), old); !errors.As(err, &refused) {
		t.Fatalf("Offer(older) = %v, want a refusal", err)
	}
	offer := offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)
	offer.Spread = protocol.Duration(time.Hour) // Rand picks 0
	if err := r.Offer(t.Context(), offer); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-restarted:
		if !strings.Contains(reason, "1.1.0") {
			t.Errorf("restart reason %q", reason)
		}
	case <-time.After(time.Minute):
		t.Fatal("no restart after the update")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got := strings.Join(sent, ","); got != "refused,downloading,verified,swapped" {
		t.Errorf("reported %s", got)
	}
	mu.Unlock()

	// The new version starts, names the update in its hello, and is
	// confirmed.
	f.u.Version = "1.1.0"
	confirmed := false
	r2 := &Runner{U: f.u, Log: f.u.Log, Report: r.Report, Restart: r.Restart, OnConfirmed: func() { confirmed = true }}
	if err := r2.Start(); err != nil {
		t.Fatal(err)
	}
	if p := r2.Pending(); p == nil || p.ReleaseID != "r1" {
		t.Fatalf("Pending = %+v", p)
	}
	r2.Confirmed(t.Context(), "other")
	if r2.Pending() == nil || confirmed {
		t.Fatal("a confirmation of another release completed this one")
	}
	r2.Confirmed(t.Context(), "r1")
	if r2.Pending() != nil || !confirmed {
		t.Fatal("not completed on its confirmation")
	}
}

func TestRunnerReportsRollbackOnce(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	if err := f.u.Apply(t.Context(), offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)); !errors.Is(err, ErrRestart) {
		t.Fatal(err)
	}
	if err := f.u.Rollback("crashed at start"); err != nil {
		t.Fatal(err)
	}
	var got []protocol.UpdateStatus
	var sentHooks []func()
	r := &Runner{U: f.u, Log: f.u.Log, Restart: func(string) {},
		Report: func(s protocol.UpdateStatus, sent func()) { got = append(got, s); sentHooks = append(sentHooks, sent) }}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Step != protocol.UpdateRolledBack || got[0].Reason != "crashed at start" {
		t.Fatalf("reports %+v", got)
	}
	// Not sent yet (no connection): a restart reports it again.
	got = nil
	if err := r.Start(); err != nil || len(got) != 1 {
		t.Fatalf("second start before sending: %+v %v", got, err)
	}
	sentHooks[len(sentHooks)-1]()
	got = nil
	if err := r.Start(); err != nil || len(got) != 0 {
		t.Fatalf("after sending: %+v %v", got, err)
	}
}

// TestRunnerWaitsForTheWindow: an offer taken outside the policy's update
// window is reported waiting (once, with the window) and goes on when a
// new policy opens the window, without waiting for the old one.
func TestRunnerWaitsForTheWindow(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	later := time.Now().Add(6 * time.Hour)
	closed, err := protocol.ParseUpdateWindow(fmt.Sprintf("daily %s-%s", later.Format("15:04"), later.Add(time.Hour).Format("15:04")))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		window = closed
		reads  int
		sent   []protocol.UpdateStatus
	)
	r, restarted := newTestRunner(f, func(s protocol.UpdateStatus) {
		mu.Lock()
		sent = append(sent, s)
		mu.Unlock()
	})
	r.WindowRecheck = 10 * time.Millisecond
	r.Window = func() protocol.UpdateWindow { mu.Lock(); defer mu.Unlock(); reads++; return window }
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if err := r.Offer(t.Context(), offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)); err != nil {
		t.Fatal(err)
	}
	steps := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, s := range sent {
			out = append(out, s.Step)
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for len(steps()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no report while outside the window")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Several rechecks later it still waits, and said so once.
	for {
		mu.Lock()
		n := reads
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the window was not read again while waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	first := sent[0]
	mu.Unlock()
	if got := strings.Join(steps(), ","); got != protocol.UpdateWaiting || !strings.Contains(first.Reason, closed.String()) {
		t.Fatalf("reported %s (%q), want one waiting report naming the window", got, first.Reason)
	}
	mu.Lock()
	window = protocol.UpdateWindow{} // the policy drops the window
	mu.Unlock()
	select {
	case <-restarted:
	case <-time.After(time.Minute):
		t.Fatal("no update once the window opened")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps(), ","); got != "waiting,downloading,verified,swapped" {
		t.Errorf("reported %s", got)
	}
}
