package watchdog

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// server records the watchdog reports it is sent and answers with the
// statuses the test queues (204 once they run out).
type server struct {
	t       *testing.T
	mu      sync.Mutex
	answers []int
	got     []protocol.WatchdogReport
	arrived chan struct{} // one send per request
}

func newServer(t *testing.T, answers ...int) (*server, *httptest.Server) {
	s := &server{t: t, answers: answers, arrived: make(chan struct{}, 100)}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != protocol.WatchdogPath {
		s.t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, protocol.WatchdogPath)
	}
	id, secret, ok := protocol.ParseCredential(r.Header.Get("Authorization"))
	if !ok || id != "agent-1" || secret != "s3cret" {
		s.t.Errorf("Authorization %q, want agent-1's credential", r.Header.Get("Authorization"))
	}
	b, _ := io.ReadAll(r.Body)
	rep, err := protocol.DecodeWatchdogReport(b)
	if err != nil {
		s.t.Errorf("DecodeWatchdogReport: %v", err)
	}
	s.mu.Lock()
	code := http.StatusNoContent
	if len(s.answers) > 0 {
		code, s.answers = s.answers[0], s.answers[1:]
	}
	s.got = append(s.got, rep)
	s.mu.Unlock()
	w.WriteHeader(code)
	s.arrived <- struct{}{}
}

// wait waits for n more requests.
func (s *server) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.arrived:
		case <-t.Context().Done():
			t.Fatal("test ended before the report arrived")
		}
	}
}

func (s *server) reports() []protocol.WatchdogReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.WatchdogReport(nil), s.got...)
}

func startReporter(t *testing.T, r *Reporter) {
	t.Helper()
	r.Retry = backoff.Backoff{Base: time.Millisecond, Cap: 10 * time.Millisecond}
	background(t, r.Run)
}

func report(state string) protocol.WatchdogReport {
	now := time.Now().UTC()
	return protocol.WatchdogReport{At: now, Agent: protocol.AgentHealth{State: state, Reason: "exit status 2", Since: now},
		Services: []protocol.WatchedService{{Name: "Spooler", State: protocol.ServiceStopped, Alert: true}}}
}

func TestReporterRetriesAfterUnavailable(t *testing.T) {
	srv, ts := newServer(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	r := NewReporter([]string{ts.URL}, "agent-1", "s3cret", ts.Client(), discard())
	startReporter(t, r)
	want := report(protocol.AgentDown)
	r.Set(want)
	srv.wait(t, 3)
	got := srv.reports()
	for i, g := range got {
		if diff := cmp.Diff(want, g); diff != "" {
			t.Errorf("request %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestReporterTriesEachServer(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused
	srv, ts := newServer(t)
	r := NewReporter([]string{deadURL, ts.URL + "/"}, "agent-1", "s3cret", nil, discard())
	startReporter(t, r)
	r.Set(report(protocol.AgentHung))
	srv.wait(t, 1)
	if got := srv.reports()[0].Agent.State; got != protocol.AgentHung {
		t.Errorf("state %q, want hung", got)
	}
}

func TestReporterDropsRejectedReport(t *testing.T) {
	srv, ts := newServer(t, http.StatusBadRequest)
	r := NewReporter([]string{ts.URL}, "agent-1", "s3cret", nil, discard())
	startReporter(t, r)
	r.Set(report(protocol.AgentDown))
	srv.wait(t, 1)
	r.Set(report(protocol.AgentRunning))
	srv.wait(t, 1)
	// The second request is the new report, not the rejected one again.
	if got := srv.reports()[1].Agent.State; got != protocol.AgentRunning {
		t.Errorf("second request carries %q, want running", got)
	}
}

func TestReporterSendsOnlyTheLatest(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv, ts := newServer(t)
	var once sync.Once
	gate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			close(arrived)
			<-release // hold the first request while newer reports pile up
		})
		srv.ServeHTTP(w, r)
	})
	ts.Config.Handler = gate
	r := NewReporter([]string{ts.URL}, "agent-1", "s3cret", nil, discard())
	startReporter(t, r)
	r.Set(report(protocol.AgentRestarting))
	// Set while the first post is in flight: these two replace each
	// other, and only the second is sent.
	<-arrived
	r.Set(report(protocol.AgentDown))
	r.Set(report(protocol.AgentHung))
	close(release)
	srv.wait(t, 2)
	got := srv.reports()
	if got[0].Agent.State != protocol.AgentRestarting || got[1].Agent.State != protocol.AgentHung {
		t.Errorf("states sent %q, %q; want restarting, hung", got[0].Agent.State, got[1].Agent.State)
	}
}

// roundTripper answers every request with 204 and counts them.
type roundTripper struct {
	mu   sync.Mutex
	reqs []protocol.WatchdogReport
}

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	rep, err := protocol.DecodeWatchdogReport(b)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, rep)
	rt.mu.Unlock()
	return &http.Response{StatusCode: http.StatusNoContent, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func (rt *roundTripper) sent() []protocol.WatchdogReport {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]protocol.WatchdogReport(nil), rt.reqs...)
}

func TestReporterResendsWhileAgentIsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &roundTripper{}
		r := NewReporter([]string{"https://rmm.example"}, "agent-1", "s3cret", &http.Client{Transport: rt}, discard())
		startReporter(t, r)
		down := report(protocol.AgentDown)
		r.Set(down)
		time.Sleep(3*r.Resend + time.Second)
		synctest.Wait()
		got := rt.sent()
		if len(got) != 4 {
			t.Fatalf("%d reports in %v while down, want 4 (one and three resends)", len(got), 3*r.Resend)
		}
		for i, g := range got[1:] {
			if g.Agent.Since != down.Agent.Since || !g.At.Equal(down.At.Add(time.Duration(i+1)*r.Resend)) {
				t.Errorf("resend %d: at %v since %v, want at +%v since %v", i, g.At, g.Agent.Since, time.Duration(i+1)*r.Resend, down.Agent.Since)
			}
		}
		r.Set(report(protocol.AgentRunning))
		time.Sleep(3 * r.Resend)
		synctest.Wait()
		if n := len(rt.sent()); n != 5 {
			t.Errorf("%d reports after the agent came back, want 5: no resends while it runs", n)
		}
	})
}

func TestStatusReportsChanges(t *testing.T) {
	var sent []protocol.WatchdogReport
	s := NewStatus(func(r protocol.WatchdogReport) { sent = append(sent, r) })
	spooler := []protocol.WatchedService{{Name: "Spooler", State: protocol.ServiceRunning, Alert: true}}
	s.Services(spooler) // held: the agent's state is not known yet
	s.Agent(protocol.AgentRunning, "", 0)
	s.Agent(protocol.AgentRunning, "", 0) // no change
	s.Services(spooler)                   // no change
	s.Agent(protocol.AgentRestarting, "exit status 2", 1)
	s.Agent(protocol.AgentRestarting, "exit status 1", 2)
	s.Services([]protocol.WatchedService{{Name: "Spooler", State: protocol.ServiceStopped, Reason: "bad\x00text", Alert: true}})
	if len(sent) != 4 {
		t.Fatalf("%d reports, want 4: %+v", len(sent), sent)
	}
	if diff := cmp.Diff(spooler, sent[0].Services); diff != "" {
		t.Errorf("first report's services (-want +got):\n%s", diff)
	}
	if !sent[2].Agent.Since.Equal(sent[1].Agent.Since) {
		t.Errorf("since moved from %v to %v without a change of state", sent[1].Agent.Since, sent[2].Agent.Since)
	}
	if sent[2].Agent.Restarts != 2 {
		t.Errorf("restarts %d, want 2", sent[2].Agent.Restarts)
	}
	for i, r := range sent {
		if err := r.Validate(); err != nil {
			t.Errorf("report %d does not validate: %v", i, err)
		}
	}
}

func TestCleanReason(t *testing.T) {
	long := strings.Repeat("é", protocol.MaxReasonLen) // 2 bytes each
	tests := []struct{ in, want string }{
		{"exit status 2", "exit status 2"},
		{"line\none\ttab", "line one tab"},
		{"bad \xff utf8", "bad ? utf8"},
		{long, long[:protocol.MaxReasonLen]},
		{"x" + long, "x" + long[:protocol.MaxReasonLen-2]},
	}
	for _, tt := range tests {
		if got := cleanReason(tt.in); got != tt.want {
			t.Errorf("cleanReason(%.20q) = %.20q (%d bytes), want %.20q (%d bytes)", tt.in, got, len(got), tt.want, len(tt.want))
		}
	}
}
