//go:build unix

package control

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/script"
	"github.com/steward-rmm/steward/internal/protocol"
)

// startScriptAgent runs an agent that runs scripts for real, connected and
// welcomed.
func startScriptAgent(t *testing.T) (*agent, *serverConn) {
	t.Helper()
	runner, err := script.New(filepath.Join(t.TempDir(), "scripts"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, func(o *Options) { o.Scripts = runner })
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	return a, sc
}

func sendScript(t *testing.T, sc *serverConn, id, body string, args ...string) {
	t.Helper()
	run := protocol.ScriptRun{Language: protocol.LangBash, Body: body, SHA256: protocol.ScriptSHA256(body),
		Args: args, Timeout: protocol.Duration(time.Minute)}
	b, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: id, Name: protocol.CommandScript, Args: b})
}

func sendCommand(t *testing.T, sc *serverConn, id, name string, args any) {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	sc.send(t, protocol.TypeCommand, protocol.Command{CommandID: id, Name: name, Args: b})
}

// scriptSeen is what the agent sent about script runs.
type scriptSeen struct {
	started map[string]int
	output  map[string]map[string][]byte // command ID → stream → bytes, checked contiguous
	results map[string]protocol.Result
	order   []string // message types in order, for one command's checks
}

// readScripts reads the agent's messages until done says enough.
func readScripts(t *testing.T, sc *serverConn, seen *scriptSeen, done func(*scriptSeen) bool) {
	t.Helper()
	if seen.started == nil {
		seen.started, seen.output, seen.results = map[string]int{}, map[string]map[string][]byte{}, map[string]protocol.Result{}
	}
	for !done(seen) {
		env, err := sc.read(t)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		switch env.Type {
		case protocol.TypeScriptStarted:
			s, err := protocol.DecodeScriptStarted(env.Data)
			if err != nil {
				t.Fatalf("script_started: %v", err)
			}
			seen.started[s.CommandID]++
		case protocol.TypeScriptOutput:
			o, err := protocol.DecodeScriptOutput(env.Data)
			if err != nil {
				t.Fatalf("script_output: %v", err)
			}
			if seen.output[o.CommandID] == nil {
				seen.output[o.CommandID] = map[string][]byte{}
			}
			have := seen.output[o.CommandID][o.Stream]
			if o.Offset > int64(len(have)) {
				t.Fatalf("%s %s chunk at %d after %d bytes: a gap", o.CommandID, o.Stream, o.Offset, len(have))
			}
			seen.output[o.CommandID][o.Stream] = append(have[:o.Offset], o.Data...)
		case protocol.TypeResult:
			r, err := protocol.DecodeResult(env.Data)
			if err != nil {
				t.Fatalf("result: %v", err)
			}
			seen.results[r.CommandID] = r
		case protocol.TypeHeartbeat:
			continue
		default:
			t.Fatalf("agent sent %q", env.Type)
		}
		seen.order = append(seen.order, env.Type)
	}
}

func hasResults(ids ...string) func(*scriptSeen) bool {
	return func(s *scriptSeen) bool {
		for _, id := range ids {
			if _, ok := s.results[id]; !ok {
				return false
			}
		}
		return true
	}
}

func decodeScriptResult(t *testing.T, r protocol.Result) protocol.ScriptResult {
	t.Helper()
	if r.Status != protocol.ResultOK {
		t.Fatalf("result %s got status %s (%s), want ok", r.CommandID, r.Status, r.Error)
	}
	out, err := protocol.DecodeScriptResult(r.Output)
	if err != nil {
		t.Fatalf("result %s: %v", r.CommandID, err)
	}
	return out
}

func TestScriptRunStreamsAndResult(t *testing.T) {
	_, sc := startScriptAgent(t)
	// A run that ends at once sends only its result, the output inline.
	sendScript(t, sc, "quick", `echo "hello $1"; echo oops >&2; exit 3`, "wörld; it's")
	var quick scriptSeen
	readScripts(t, sc, &quick, hasResults("quick"))
	if len(quick.order) != 1 {
		t.Errorf("a quick run sent %v, want its result alone", quick.order)
	}
	res := decodeScriptResult(t, quick.results["quick"])
	if !res.Inline || string(res.Stdout.Data) != "hello wörld; it's\n" || string(res.Stderr.Data) != "oops\n" || res.ExitCode != 3 {
		t.Errorf("a quick run's result got %+v, want its output inline and exit code 3", res)
	}

	// A run that goes on past the hold-back streams its start and output
	// live, and its result carries only the sizes.
	gate := filepath.Join(t.TempDir(), "gate")
	sendScript(t, sc, "s1", `echo "hello $1"; echo oops >&2; while [ ! -e "$2" ]; do sleep 0.01; done; exit 2`, "wörld; it's", gate)
	var seen scriptSeen
	readScripts(t, sc, &seen, func(s *scriptSeen) bool {
		return len(s.output["s1"][protocol.StreamStdout]) > 0 && len(s.output["s1"][protocol.StreamStderr]) > 0
	})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readScripts(t, sc, &seen, hasResults("s1"))
	if seen.started["s1"] != 1 || seen.order[0] != protocol.TypeScriptStarted {
		t.Errorf("messages got %v, want script_started first, once", seen.order)
	}
	if got := string(seen.output["s1"][protocol.StreamStdout]); got != "hello wörld; it's\n" {
		t.Errorf("stdout got %q", got)
	}
	if got := string(seen.output["s1"][protocol.StreamStderr]); got != "oops\n" {
		t.Errorf("stderr got %q", got)
	}
	res = decodeScriptResult(t, seen.results["s1"])
	if res.Inline || res.Status != protocol.ScriptFailed || res.ExitCode != 2 || res.Stdout.Bytes != int64(len("hello wörld; it's\n")) || res.Stderr.Bytes != 5 {
		t.Errorf("script result got %+v, want failed with exit code 2 and the streams' sizes", res)
	}

	// The output again, from an offset, before the request's result.
	sendCommand(t, sc, "o1", protocol.CommandScriptOutput,
		protocol.ScriptOutputRequest{CommandID: "s1", Stream: protocol.StreamStdout, Offset: 6})
	again := seen // re-sent chunks land on what was streamed
	readScripts(t, sc, &again, hasResults("o1"))
	if r := again.results["o1"]; r.Status != protocol.ResultOK {
		t.Errorf("script_output result got %+v, want ok", r)
	}
	if got := string(again.output["s1"][protocol.StreamStdout][6:]); got != "wörld; it's\n" {
		t.Errorf("re-sent stdout from 6 got %q", got)
	}
	sendCommand(t, sc, "o2", protocol.CommandScriptOutput,
		protocol.ScriptOutputRequest{CommandID: "unknown", Stream: protocol.StreamStdout})
	readScripts(t, sc, &again, hasResults("o2"))
	if r := again.results["o2"]; r.Status != protocol.ResultError || !strings.Contains(r.Error, "not kept") {
		t.Errorf("output of an unknown run got %+v, want an error", r)
	}
}

func TestScriptOfferedAgainRunsOnce(t *testing.T) {
	_, sc := startScriptAgent(t)
	dir := t.TempDir()
	count, gate := filepath.Join(dir, "count"), filepath.Join(dir, "gate")
	body := `echo ran >> "$1"; echo started; while [ ! -e "$2" ]; do sleep 0.01; done`
	sendScript(t, sc, "s1", body, count, gate)
	var seen scriptSeen
	readScripts(t, sc, &seen, func(s *scriptSeen) bool { return len(s.output["s1"][protocol.StreamStdout]) > 0 })
	sendScript(t, sc, "s1", body, count, gate) // offered again while it runs
	sc.ping(t, "p1")
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readScripts(t, sc, &seen, hasResults("s1"))
	first := seen.results["s1"]
	// Offered again once done: the same result, not a second run.
	delete(seen.results, "s1")
	sendScript(t, sc, "s1", body, count, gate)
	readScripts(t, sc, &seen, hasResults("s1"))
	if string(seen.results["s1"].Output) != string(first.Output) {
		t.Errorf("result sent again got %s, want %s", seen.results["s1"].Output, first.Output)
	}
	if b, _ := os.ReadFile(count); string(b) != "ran\n" {
		t.Errorf("the script ran %d times, want once", strings.Count(string(b), "ran"))
	}
	if seen.started["s1"] != 1 {
		t.Errorf("script_started sent %d times, want once", seen.started["s1"])
	}
}

func TestScriptKill(t *testing.T) {
	_, sc := startScriptAgent(t)
	sendScript(t, sc, "s1", `echo running; sleep 300 & wait`)
	var seen scriptSeen
	readScripts(t, sc, &seen, func(s *scriptSeen) bool { return len(s.output["s1"][protocol.StreamStdout]) > 0 })
	sendCommand(t, sc, "k1", protocol.CommandScriptKill, protocol.ScriptKill{CommandID: "s1"})
	readScripts(t, sc, &seen, hasResults("k1", "s1"))
	if r := seen.results["k1"]; r.Status != protocol.ResultOK {
		t.Errorf("kill result got %+v, want ok", r)
	}
	if res := decodeScriptResult(t, seen.results["s1"]); res.Status != protocol.ScriptKilled {
		t.Errorf("script result got %+v, want killed", res)
	}
	sendCommand(t, sc, "k2", protocol.CommandScriptKill, protocol.ScriptKill{CommandID: "s1"})
	readScripts(t, sc, &seen, hasResults("k2"))
	if r := seen.results["k2"]; r.Status != protocol.ResultError {
		t.Errorf("kill of a finished run got %+v, want an error", r)
	}
}

func TestScriptsRunFourAtOnce(t *testing.T) {
	a, sc := startScriptAgent(t)
	gate := filepath.Join(t.TempDir(), "gate")
	body := `echo started; while [ ! -e "$1" ]; do sleep 0.01; done`
	ids := []string{"s1", "s2", "s3", "s4", "s5"}
	for _, id := range ids {
		sendScript(t, sc, id, body, gate)
	}
	var seen scriptSeen
	readScripts(t, sc, &seen, func(s *scriptSeen) bool { return len(s.started) == maxScriptsRunning })
	w := a.client.scripts
	w.mu.Lock()
	running, waiting := len(w.running), len(w.waiting)
	w.mu.Unlock()
	if running != maxScriptsRunning || waiting != 1 {
		t.Errorf("got %d running and %d waiting, want %d and 1", running, waiting, maxScriptsRunning)
	}
	// The one waiting is killed before it starts; the others finish.
	sendCommand(t, sc, "k1", protocol.CommandScriptKill, protocol.ScriptKill{CommandID: "s5"})
	readScripts(t, sc, &seen, hasResults("k1", "s5"))
	if res := decodeScriptResult(t, seen.results["s5"]); res.Status != protocol.ScriptKilled || seen.started["s5"] != 0 {
		t.Errorf("waiting run killed got %+v (started %d times), want killed, never started", res, seen.started["s5"])
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readScripts(t, sc, &seen, hasResults(ids...))
	for _, id := range ids[:4] {
		if res := decodeScriptResult(t, seen.results[id]); res.Status != protocol.ScriptSucceeded {
			t.Errorf("%s got %+v, want succeeded", id, res)
		}
	}
}

func TestScriptRefused(t *testing.T) {
	_, sc := startScriptAgent(t)
	sendCommand(t, sc, "bad", protocol.CommandScript, map[string]any{"language": "bash", "body": "echo", "sha256": "00", "timeout": "1m"})
	body := "echo hi"
	sendCommand(t, sc, "zsh", protocol.CommandScript, protocol.ScriptRun{Language: protocol.LangCmd, Body: body,
		SHA256: protocol.ScriptSHA256(body), Timeout: protocol.Duration(time.Minute)})
	var seen scriptSeen
	readScripts(t, sc, &seen, hasResults("bad", "zsh"))
	if r := seen.results["bad"]; r.Status != protocol.ResultError || !strings.Contains(r.Error, "sha256") {
		t.Errorf("script with a wrong hash got %+v, want an error about the hash", r)
	}
	if r := seen.results["zsh"]; r.Status != protocol.ResultError || !strings.Contains(r.Error, "Windows only") {
		t.Errorf("cmd script on Unix got %+v, want an error saying Windows only", r)
	}
}

func TestScriptsUnsupportedWithoutRunner(t *testing.T) {
	fs := newFakeServer(t, nil)
	startAgent(t, fs, nil)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	sendScript(t, sc, "s1", "echo hi")
	env := sc.expect(t, protocol.TypeResult)
	if r, err := protocol.DecodeResult(env.Data); err != nil || r.Status != protocol.ResultUnsupported {
		t.Errorf("script without a runner got %+v, %v; want unsupported", r, err)
	}
}

func TestScriptKilledWhenAgentStops(t *testing.T) {
	dir := t.TempDir()
	commands := filepath.Join(dir, "commands.json")
	runner, err := script.New(filepath.Join(dir, "scripts"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeServer(t, nil)
	opts := func(o *Options) { o.Scripts, o.CommandsFile = runner, commands }
	a := startAgent(t, fs, opts)
	sc := fs.next(t)
	sc.handshake(t, quiet)
	sendScript(t, sc, "s1", `echo running; sleep 300 & wait`)
	sendScript(t, sc, "s2", `echo running; sleep 300 & wait`)
	var seen scriptSeen
	readScripts(t, sc, &seen, func(s *scriptSeen) bool { return len(s.output["s2"][protocol.StreamStdout]) > 0 })
	a.stop(t)

	// The next run of the agent sends the results the stop left.
	startAgent(t, fs, opts)
	sc = fs.next(t)
	sc.handshake(t, quiet)
	seen = scriptSeen{}
	readScripts(t, sc, &seen, hasResults("s1", "s2"))
	for _, id := range []string{"s1", "s2"} {
		if res := decodeScriptResult(t, seen.results[id]); res.Status != protocol.ScriptKilled || !strings.Contains(res.Error, "agent is stopping") {
			t.Errorf("%s got %+v, want killed as the agent stopped", id, res)
		}
	}
}

// A run whose job sets no output cap takes the policy's
// scripts.max_output; one that sets its own keeps it.
func TestScriptOutputCapFromPolicy(t *testing.T) {
	runner, err := script.New(filepath.Join(t.TempDir(), "scripts"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeServer(t, nil)
	a := startAgent(t, fs, func(o *Options) {
		o.Scripts = runner
		o.Policy = newFakePolicy(`{"scripts":{"max_output":4096}}`)
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	a.waitStatus(t, "connected", connectedCount(1))
	sendScript(t, sc, "policy-cap", `head -c 10000 /dev/zero | tr '\0' x`)
	body := `head -c 10000 /dev/zero | tr '\0' x`
	own := protocol.ScriptRun{Language: protocol.LangBash, Body: body, SHA256: protocol.ScriptSHA256(body),
		Timeout: protocol.Duration(time.Minute), MaxOutput: 6000}
	sendCommand(t, sc, "own-cap", protocol.CommandScript, own)
	var seen scriptSeen
	readScripts(t, sc, &seen, hasResults("policy-cap", "own-cap"))
	if res := decodeScriptResult(t, seen.results["policy-cap"]); res.Stdout.Bytes != 4096 || !res.Stdout.Truncated {
		t.Errorf("run without a cap kept %+v, want the policy's 4096 bytes, truncated", res.Stdout)
	}
	if res := decodeScriptResult(t, seen.results["own-cap"]); res.Stdout.Bytes != 6000 || !res.Stdout.Truncated {
		t.Errorf("run with its own cap kept %+v, want 6000 bytes, truncated", res.Stdout)
	}
}

func TestPolicyOutputCap(t *testing.T) {
	for doc, want := range map[string]int64{
		`{"scripts":{"max_output":65536}}`:    65536,
		`{}`:                                  0,
		`{"scripts":{"max_output":-1}}`:       0,
		`{"scripts":{"max_output":99999999}}`: 0,
		`{"scripts":{"max_output":"big"}}`:    0,
		`not json`:                            0,
	} {
		if got := policyOutputCap(json.RawMessage(doc)); got != want {
			t.Errorf("policyOutputCap(%s) = %d, want %d", doc, got, want)
		}
	}
}
