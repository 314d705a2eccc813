package control

import (
	"bytes"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// sentTypes drains the outbox and returns the message types it held.
func sentTypes(t *testing.T, o *liveOutbox) []string {
	t.Helper()
	var types []string
	if err := o.send(func(typ string, _ any) error { types = append(types, typ); return nil }); err != nil {
		t.Fatal(err)
	}
	return types
}

// onlineHoldback is a hold-back whose grace never passes by itself, in
// front of an outbox with a connection up.
func onlineHoldback() (*liveOutbox, *holdback) {
	live := newLiveOutbox()
	live.setOnline(true)
	return live, newHoldback(live, time.Hour)
}

func TestHoldback(t *testing.T) {
	started := liveMessage{typ: protocol.TypeScriptStarted}
	piece := func(n int) (liveMessage, []byte) {
		return liveMessage{typ: protocol.TypeScriptOutput, size: n}, bytes.Repeat([]byte("x"), n)
	}
	t.Run("quick run goes inline", func(t *testing.T) {
		live, h := onlineHoldback()
		h.push(started, "", nil)
		m, data := piece(10)
		h.push(m, protocol.StreamStdout, data)
		res := protocol.ScriptResult{Stdout: protocol.ScriptStream{Bytes: 10}}
		h.finish(&res)
		if !res.Inline || len(res.Stdout.Data) != 10 || res.Stderr.Data != nil {
			t.Fatalf("result got %+v, want stdout inline", res)
		}
		if got := sentTypes(t, live); len(got) != 0 {
			t.Fatalf("sent %v live, want nothing", got)
		}
	})
	t.Run("more than fits inline streams", func(t *testing.T) {
		live, h := onlineHoldback()
		h.push(started, "", nil)
		m, data := piece(protocol.MaxInlineOutput + 1)
		h.push(m, protocol.StreamStderr, data)
		m2, data2 := piece(1)
		h.push(m2, protocol.StreamStderr, data2)
		if got := sentTypes(t, live); len(got) != 3 || got[0] != protocol.TypeScriptStarted {
			t.Fatalf("sent %v live, want the start and both pieces", got)
		}
		res := protocol.ScriptResult{Stderr: protocol.ScriptStream{Bytes: protocol.MaxInlineOutput + 2}}
		h.finish(&res)
		if res.Inline || res.Stderr.Data != nil {
			t.Fatalf("result got inline output after streaming it")
		}
	})
	t.Run("grace passed streams", func(t *testing.T) {
		live, h := onlineHoldback()
		h.push(started, "", nil)
		h.release() // what the timer does when the grace passes
		m, data := piece(3)
		h.push(m, protocol.StreamStdout, data)
		res := protocol.ScriptResult{Stdout: protocol.ScriptStream{Bytes: 3}}
		h.finish(&res)
		if res.Inline {
			t.Fatal("result inline after the grace passed")
		}
		if got := sentTypes(t, live); len(got) != 2 {
			t.Fatalf("sent %v live, want the start and the piece", got)
		}
	})
	t.Run("output missing from the events is not inline", func(t *testing.T) {
		live, h := onlineHoldback()
		h.push(started, "", nil)
		res := protocol.ScriptResult{Stdout: protocol.ScriptStream{Bytes: 4}}
		h.finish(&res)
		if res.Inline {
			t.Fatal("result inline without its output")
		}
		if got := sentTypes(t, live); len(got) != 1 {
			t.Fatalf("sent %v live, want the held start", got)
		}
	})
}
