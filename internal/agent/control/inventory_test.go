package control

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// upload is one inventory upload the fake server received.
type upload struct {
	inv    protocol.Inventory
	status int // what the server answered
}

// inventoryServer makes fs accept inventory uploads, answering them with
// statuses in turn (the last one repeats; 204 when empty), and returns the
// channel of uploads. Every upload must carry the agent's credential and
// decode as the server would decode it.
func inventoryServer(t *testing.T, fs *fakeServer, statuses ...int) <-chan upload {
	t.Helper()
	ch := make(chan upload, 100)
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("upload method got %s, want POST", r.Method)
		}
		if got, want := r.Header.Get("Authorization"), protocol.FormatCredential(testAgentID, testSecret); got != want {
			t.Errorf("upload Authorization got %q, want %q", got, want)
		}
		inv, err := protocol.DecodeInventoryBody(r.Body, r.Header.Get("Content-Encoding") == "gzip")
		if err != nil {
			t.Errorf("decode upload: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		status := http.StatusNoContent
		if len(statuses) > 0 {
			status = statuses[min(int(n.Add(1)), len(statuses))-1]
		}
		ch <- upload{inv: inv, status: status} // before the agent can see the answer
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3600") // far beyond any test
		}
		if status >= 400 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: "report refused for a test"})
		} else {
			w.WriteHeader(status)
		}
	})
	fs.upload.Store(&h)
	return ch
}

func nextUpload(t *testing.T, ch <-chan upload) upload {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(waitLimit):
		t.Fatal("agent uploaded no inventory")
		return upload{}
	}
}

// noUpload fails if an upload arrives within a short while.
func noUpload(t *testing.T, ch <-chan upload, within time.Duration) {
	t.Helper()
	select {
	case u := <-ch:
		t.Fatalf("agent uploaded a report (reason %q), want none", u.inv.Reason)
	case <-time.After(within):
	}
}

// fakeCollector stands in for inventory.Collect: a small report with the
// given reason, counted. If gate is set, each collection waits for a value
// from it.
type fakeCollector struct {
	calls atomic.Int32
	gate  chan struct{}
}

func (f *fakeCollector) collect(ctx context.Context, reason string) protocol.Inventory {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
		}
	}
	return protocol.Inventory{
		CollectedAt: time.Now().UTC(), Reason: reason,
		OS: protocol.OSInfo{Name: "Debian GNU/Linux", Version: "12"},
		Software: []protocol.Software{
			{Name: "curl", Version: "7.88.1", Source: protocol.SoftwareDpkg},
			{Name: "openssl", Version: "3.0.15", Source: protocol.SoftwareDpkg},
		},
	}
}

// fakePolicy is a PolicySource whose document a test changes.
type fakePolicy struct {
	mu      sync.Mutex
	cur     config.Policy
	changed chan struct{}
}

func newFakePolicy(doc string) *fakePolicy {
	return &fakePolicy{cur: config.Policy{Revision: "r0", Policy: json.RawMessage(doc)}, changed: make(chan struct{})}
}

func (p *fakePolicy) Current() config.Policy {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

func (p *fakePolicy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *fakePolicy) set(doc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = config.Policy{Revision: p.cur.Revision + "+", Policy: json.RawMessage(doc)}
	close(p.changed)
	p.changed = make(chan struct{})
}

// startInventoryAgent runs an agent with the inventory on and connects it.
func startInventoryAgent(t *testing.T, fs *fakeServer, col *fakeCollector, pol *fakePolicy) (*agent, *serverConn) {
	t.Helper()
	a := startAgent(t, fs, func(o *Options) {
		o.Inventory = col.collect
		if pol != nil {
			o.Policy = pol
		}
		o.MinInventoryInterval = time.Millisecond
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	return a, sc
}

// inventoryCommand sends an inventory command and returns its result, the
// next thing the agent sends.
func (sc *serverConn) inventoryCommand(t *testing.T, id string) protocol.Result {
	t.Helper()
	sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: id, Name: protocol.CommandInventory})
	return sc.result(t)
}

func (sc *serverConn) result(t *testing.T) protocol.Result {
	t.Helper()
	env := sc.expect(t, protocol.TypeResult)
	r, err := protocol.DecodeResult(env.Data)
	if err != nil {
		t.Fatalf("result: %v", err)
	}
	return r
}

func TestInventoryAtStartOnly(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs)
	col := &fakeCollector{}
	_, sc := startInventoryAgent(t, fs, col, nil)

	u := nextUpload(t, ups)
	if u.inv.Reason != protocol.InventoryStart || len(u.inv.Software) != 2 {
		t.Errorf("first upload got reason %q with %d entries, want start with 2", u.inv.Reason, len(u.inv.Software))
	}
	// A reconnect is not a start: the process started once.
	sc.conn.CloseNow()
	fs.next(t).handshake(t, quiet)
	noUpload(t, ups, 200*time.Millisecond)
	if n := col.calls.Load(); n != 1 {
		t.Errorf("collected %d times, want 1", n)
	}
}

func TestInventoryCommand(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs)
	_, sc := startInventoryAgent(t, fs, &fakeCollector{}, nil)
	nextUpload(t, ups) // start

	r := sc.inventoryCommand(t, "inv-1")
	// The result follows the stored upload.
	select {
	case u := <-ups:
		if u.inv.Reason != protocol.InventoryRequest {
			t.Errorf("upload reason got %q, want request", u.inv.Reason)
		}
	default:
		t.Fatal("result came before the upload")
	}
	var out protocol.InventoryOutput
	if err := json.Unmarshal(r.Output, &out); err != nil || r.Status != protocol.ResultOK || r.CommandID != "inv-1" || out.Software != 2 {
		t.Errorf("result got %+v (output %s), want ok for inv-1 with 2 software entries", r, r.Output)
	}
}

func TestInventoryCommandRetriesServerErrors(t *testing.T) {
	fs := newFakeServer(t, nil)
	// start: 204; the command's upload: 500, 503, then 204.
	ups := inventoryServer(t, fs, 204, 500, 503, 204)
	_, sc := startInventoryAgent(t, fs, &fakeCollector{}, nil)
	nextUpload(t, ups)

	r := sc.inventoryCommand(t, "inv-2")
	if r.Status != protocol.ResultOK {
		t.Fatalf("result got %+v, want ok after the retries", r)
	}
	var got []int
	for range 3 {
		u := nextUpload(t, ups)
		got = append(got, u.status)
		if u.inv.Reason != protocol.InventoryRequest {
			t.Errorf("retried upload reason got %q, want request", u.inv.Reason)
		}
	}
	if want := []int{500, 503, 204}; !slices.Equal(got, want) {
		t.Errorf("answers got %v, want %v", got, want)
	}
}

func TestInventoryCommandRefused(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs, 204, 400)
	a, sc := startInventoryAgent(t, fs, &fakeCollector{}, nil)
	nextUpload(t, ups)

	r := sc.inventoryCommand(t, "inv-3")
	if r.Status != protocol.ResultError || !strings.Contains(r.Error, "HTTP 400") || !strings.Contains(r.Error, "report refused for a test") {
		t.Errorf("result got %+v, want an error naming the status and the server's message", r)
	}
	nextUpload(t, ups)
	noUpload(t, ups, 100*time.Millisecond) // a 4xx is not retried
	a.waitLog(t, "inventory upload failed")
}

func TestInventoryDoesNotBlockControl(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs)
	col := &fakeCollector{gate: make(chan struct{})}
	_, sc := startInventoryAgent(t, fs, col, nil)

	// The start collection hangs; the connection goes on, and commands
	// that arrive meanwhile wait for one report after it.
	waitCalls(t, col, 1)
	sc.ping(t, "p1")
	for _, id := range []string{"inv-a", "inv-b", "inv-c"} {
		sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: id, Name: protocol.CommandInventory})
	}
	sc.ping(t, "p2")
	col.gate <- struct{}{} // start report: collected, but its upload gives way to the requested one
	waitCalls(t, col, 2)
	col.gate <- struct{}{} // the one report for the three commands
	got := map[string]string{}
	for range 3 {
		r := sc.result(t)
		got[r.CommandID] = r.Status
	}
	for _, id := range []string{"inv-a", "inv-b", "inv-c"} {
		if got[id] != protocol.ResultOK {
			t.Errorf("result of %s got %q, want ok", id, got[id])
		}
	}
	if u := nextUpload(t, ups); u.inv.Reason != protocol.InventoryRequest {
		t.Errorf("upload reason got %q, want request", u.inv.Reason)
	}
	noUpload(t, ups, 100*time.Millisecond)
	if n := col.calls.Load(); n != 2 {
		t.Errorf("collected %d times, want 2", n)
	}
}

func waitCalls(t *testing.T, col *fakeCollector, n int32) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for col.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("collector called %d times, want %d", col.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestInventoryIntervalFollowsPolicy(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs)
	pol := newFakePolicy(`{"inventory":{"interval":"1h"}}`)
	_, _ = startInventoryAgent(t, fs, &fakeCollector{}, pol)
	nextUpload(t, ups) // start
	noUpload(t, ups, 150*time.Millisecond)

	// A shorter interval re-arms the timer without a restart.
	pol.set(`{"inventory":{"interval":"30ms"}}`)
	for range 2 {
		if u := nextUpload(t, ups); u.inv.Reason != protocol.InventorySchedule {
			t.Errorf("upload reason got %q, want schedule", u.inv.Reason)
		}
	}
	// Back to an hour: the reports stop (one may be under way).
	pol.set(`{"inventory":{"interval":"1h"}}`)
	deadline := time.After(waitLimit)
	for quiet := false; !quiet; {
		select {
		case <-ups:
		case <-time.After(300 * time.Millisecond):
			quiet = true
		case <-deadline:
			t.Fatal("reports went on after the interval became an hour")
		}
	}
}

func TestInventoryCommandWithoutInventory(t *testing.T) {
	fs := newFakeServer(t, nil)
	startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	if r := sc.inventoryCommand(t, "inv-x"); r.Status != protocol.ResultUnsupported {
		t.Errorf("result got %+v, want unsupported", r)
	}
}

// TestInventoryCommandPreemptsRetries: a start report that a busy server
// told to come back in an hour gives way to a technician's request, which
// is answered at once.
func TestInventoryCommandPreemptsRetries(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs, 429, 204)
	a, sc := startInventoryAgent(t, fs, &fakeCollector{}, nil)
	if u := nextUpload(t, ups); u.inv.Reason != protocol.InventoryStart || u.status != 429 {
		t.Fatalf("first upload got %q answered %d, want start answered 429", u.inv.Reason, u.status)
	}
	r := sc.inventoryCommand(t, "inv-9")
	if r.Status != protocol.ResultOK {
		t.Fatalf("result got %+v, want ok", r)
	}
	if u := nextUpload(t, ups); u.inv.Reason != protocol.InventoryRequest || u.status != 204 {
		t.Errorf("second upload got %q answered %d, want request answered 204", u.inv.Reason, u.status)
	}
	a.waitLog(t, "inventory report gave way to a requested one")
}

// TestInventoryAfterHook checks that AfterInventory runs after each report
// (where the agent hands the report's memory back), before a command's
// result is recorded.
func TestInventoryAfterHook(t *testing.T) {
	fs := newFakeServer(t, nil)
	ups := inventoryServer(t, fs)
	after := make(chan struct{}, 10)
	startAgent(t, fs, func(o *Options) {
		o.Inventory = (&fakeCollector{}).collect
		o.MinInventoryInterval = time.Millisecond
		o.AfterInventory = func() { after <- struct{}{} }
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	nextUpload(t, ups) // start
	select {
	case <-after:
	case <-time.After(waitLimit):
		t.Fatal("AfterInventory not called after the start report")
	}
	if r := sc.inventoryCommand(t, "inv-1"); r.Status != protocol.ResultOK {
		t.Fatalf("inventory command result %+v, want ok", r)
	}
	select {
	case <-after:
	default:
		t.Error("AfterInventory not called before the requested report's result")
	}
}
