package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/charmbracelet/x/xpty"

	"github.com/steward-rmm/steward/internal/protocol"
)

// EnvBenchTerminal turns TestTerminalBench on: the size of the file to
// cat, in MiB (e.g. 256).
const EnvBenchTerminal = "STEWARD_BENCH_TERMINAL"

// TestTerminalBench is the terminal benchmark of docs/benchmarks.md, not a
// CI test. Through the relay, with the real binaries on loopback: the
// round trip of one keystroke to a raw-mode cat on the agent's PTY and its
// echo back (p50/p99 of 2000), then the throughput of cat of a large file.
// As an anchor, the same cat through a PTY in this process, no network.
func TestTerminalBench(t *testing.T) {
	v := os.Getenv(EnvBenchTerminal)
	if v == "" {
		t.Skipf("terminal benchmark skipped: set %s=256 (MiB to cat) to run it", EnvBenchTerminal)
	}
	if runtime.GOOS != "linux" {
		t.Skip("the terminal benchmark runs the Linux agent")
	}
	mib, err := strconv.Atoi(v)
	if err != nil || mib <= 0 {
		t.Fatalf("%s=%q: want MiB", EnvBenchTerminal, v)
	}
	// Base64 text, so the terminal passes it unchanged and no byte is a
	// control character.
	big := filepath.Join(t.TempDir(), "big.txt")
	raw := make([]byte, mib<<20*3/4)
	rand.Read(raw)
	b64 := []byte(base64.StdEncoding.EncodeToString(raw))
	enc := make([]byte, 0, len(b64)+len(b64)/76+1)
	for len(b64) > 0 {
		n := min(76, len(b64))
		enc = append(append(enc, b64[:n]...), '\n')
		b64 = b64[n:]
	}
	if err := os.WriteFile(big, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	size := len(enc)

	f, agentID := terminalFleet(t)

	open := func() *term {
		var s sessionJSON
		f.api.mustDo("POST", "/api/v1/agents/"+agentID+"/sessions", map[string]any{"kind": "terminal", "cols": 200, "rows": 50}, &s, 201)
		tm, st := dialTerm(t, f.api, s)
		if st != 101 {
			t.Fatalf("dial: %d", st)
		}
		return tm
	}

	// Keystroke echo.
	tm := open()
	tm.send(protocol.DataFrame([]byte("stty raw -echo; echo READY$((1+1)); cat\r")))
	tm.expect(`READY2`)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	const keys = 2000
	rtts := make([]time.Duration, 0, keys)
	for i := range keys {
		k := []byte{'a' + byte(i%26)}
		start := time.Now()
		tm.send(protocol.DataFrame(k))
		for {
			_, b, err := tm.conn.Read(ctx)
			if err != nil {
				t.Fatalf("keystroke %d: %v", i, err)
			}
			if bytes.Contains(b[1:], k) {
				break
			}
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	t.Logf("keystroke echo through the relay (%d): p50 %v, p99 %v, max %v", keys, rtts[keys/2], rtts[keys*99/100], rtts[keys-1])
	tm.send(protocol.DataFrame([]byte{3})) // ^C ends cat
	tm.conn.CloseNow()

	// cat throughput through the relay.
	tm = open()
	tm.send(protocol.DataFrame([]byte("stty -echo; echo READY$((1+1))\r")))
	tm.expect(`READY2`)
	start := time.Now()
	// "#" is not in the base64 alphabet: only the echo prints the marker.
	tm.send(protocol.DataFrame([]byte("cat " + big + "; echo '#'END$((1+1))\r")))
	got := 0
	var tail []byte
	for {
		_, b, err := tm.conn.Read(ctx)
		if err != nil {
			t.Fatalf("cat: %v after %d bytes", err, got)
		}
		got += len(b) - 1
		tail = append(tail, b[1:]...)
		if bytes.Contains(tail, []byte("#END2")) {
			break
		}
		tail = tail[max(0, len(tail)-8):]
	}
	relayed := time.Since(start)
	t.Logf("cat %d MiB through the relay: %d bytes in %v, %.1f MB/s", mib, got, relayed, float64(got)/relayed.Seconds()/1e6)

	// Anchor: the same cat on a PTY in this process.
	pty, err := xpty.NewPty(200, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	cmd := exec.Command("cat", big)
	start = time.Now()
	if err := pty.Start(cmd); err != nil {
		t.Fatal(err)
	}
	// The terminal turns each "\n" into "\r\n": count the bytes but those.
	local, content := 0, 0
	buf := make([]byte, 32<<10)
	for content < size {
		n, err := pty.Read(buf)
		local += n
		content += n - bytes.Count(buf[:n], []byte{'\r'})
		if err != nil {
			t.Fatalf("read the local PTY: %v", err)
		}
	}
	took := time.Since(start)
	cmd.Wait()
	t.Logf("cat %d MiB on a local PTY: %d bytes in %v, %.1f MB/s", mib, local, took, float64(local)/took.Seconds()/1e6)
}
