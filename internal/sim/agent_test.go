package sim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestAnswer(t *testing.T) {
	ping := answer(json.RawMessage(`{"command_id":"c1","name":"ping"}`))
	if ping.CommandID != "c1" || ping.Status != protocol.ResultOK {
		t.Errorf("answer(ping) = %+v, want ok for c1", ping)
	}
	var out protocol.PingOutput
	if err := json.Unmarshal(ping.Output, &out); err != nil || time.Since(out.AgentTime) > time.Minute {
		t.Errorf("answer(ping) output = %s (%v), want PingOutput with the current time", ping.Output, err)
	}

	other := answer(json.RawMessage(`{"command_id":"c2","name":"script.run","args":{"x":1}}`))
	if other.CommandID != "c2" || other.Status != protocol.ResultOK || string(other.Output) != `{"simulated":true}` {
		t.Errorf("answer(script.run) = %+v, want a canned ok", other)
	}

	bad := answer(json.RawMessage(`{"command_id":"c3"}`))
	if bad.CommandID != "c3" || bad.Status != protocol.ResultError || bad.Error == "" {
		t.Errorf("answer(no name) = %+v, want an error for c3", bad)
	}

	// Every answer is a result the server accepts.
	for _, r := range []protocol.Result{ping, other, bad} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := protocol.DecodeResult(b); err != nil {
			t.Errorf("DecodeResult(%s): %v", b, err)
		}
	}
}

func TestHeartbeatRoundTrips(t *testing.T) {
	var sess session
	t0 := time.Now()
	for seq := uint64(1); seq <= 6; seq++ {
		sess.sentHeartbeat(seq, t0.Add(time.Duration(seq)*time.Second))
	}
	// The last four are remembered; older ones and unknown IDs are not.
	for _, tt := range []struct {
		id     string
		wantOK bool
	}{{"1", false}, {"2", false}, {"3", true}, {"6", true}, {"6", false}, {"7", false}, {"x", false}, {"", false}} {
		rtt, ok := sess.answered(tt.id, t0.Add(10*time.Second))
		if ok != tt.wantOK {
			t.Errorf("answered(%q) ok = %t, want %t", tt.id, ok, tt.wantOK)
		}
		if ok && tt.id == "3" && rtt != 7*time.Second {
			t.Errorf("answered(3) = %s, want 7s", rtt)
		}
	}
}
