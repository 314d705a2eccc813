package update

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestRunner(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	restarted := make(chan string, 1)
	var (
		mu   sync.Mutex
		sent []string
	)
	r := &Runner{U: f.u, Log: f.u.Log,
		Report: func(s protocol.UpdateStatus, done func()) {
			mu.Lock()
			sent = append(sent, s.Step)
			mu.Unlock()
			if done != nil {
				done()
			}
		},
		Restart: func(reason string) { restarted <- reason },
		Rand:    func(int64) int64 { return 0 },
	}
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
