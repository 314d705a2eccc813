package control

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeActions answers processes with a fixed list, services with an
// error, and event_log only when its bound ends.
type fakeActions struct{}

func (fakeActions) Timeout(name string) (time.Duration, bool) {
	switch name {
	case protocol.CommandProcesses, protocol.CommandServices:
		return time.Minute, true
	case protocol.CommandEventLog:
		return 50 * time.Millisecond, true
	}
	return 0, false
}

func (fakeActions) Run(ctx context.Context, name string, _ json.RawMessage) (json.RawMessage, error) {
	switch name {
	case protocol.CommandProcesses:
		return json.Marshal(protocol.ProcessList{Processes: []protocol.ProcessInfo{{PID: 42, Name: "sleep"}}})
	case protocol.CommandServices:
		return nil, errors.New("systemd is not available")
	}
	<-ctx.Done()
	return nil, context.Cause(ctx)
}

func TestActions(t *testing.T) {
	fs := newFakeServer(t, nil)
	startAgent(t, fs, func(o *Options) { o.Actions = fakeActions{} })
	sc := fs.next(t)
	sc.handshake(t, quiet)
	for _, tc := range []struct {
		name       string
		status     string
		wantOutput string
		wantErr    string
	}{
		{protocol.CommandProcesses, protocol.ResultOK, `{"processes":[{"pid":42,"name":"sleep","cpu_percent":0,"memory_bytes":0}]}`, ""},
		{protocol.CommandServices, protocol.ResultError, "", "systemd is not available"},
		{protocol.CommandEventLog, protocol.ResultError, "", "took longer than 50ms"},
		{protocol.CommandPower, protocol.ResultUnsupported, "", "does not support"},
	} {
		sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: "c-" + tc.name, Name: tc.name})
		r, err := protocol.DecodeResult(sc.expect(t, protocol.TypeResult).Data)
		if err != nil {
			t.Fatal(err)
		}
		if r.CommandID != "c-"+tc.name || r.Status != tc.status || string(r.Output) != tc.wantOutput || !strings.Contains(r.Error, tc.wantErr) {
			t.Errorf("%s: result %+v (output %s), want status %s, output %s, error with %q", tc.name, r, r.Output, tc.status, tc.wantOutput, tc.wantErr)
		}
	}
}

func TestActionsPastDeadline(t *testing.T) {
	fs := newFakeServer(t, nil)
	startAgent(t, fs, func(o *Options) { o.Actions = fakeActions{} })
	sc := fs.next(t)
	sc.handshake(t, quiet)
	sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: "late", Name: protocol.CommandProcesses, Deadline: time.Now().Add(-time.Second)})
	r, err := protocol.DecodeResult(sc.expect(t, protocol.TypeResult).Data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != protocol.ResultError || !strings.Contains(r.Error, "it was not run") {
		t.Errorf("past its deadline: %+v, want an error saying it was not run", r)
	}
}
