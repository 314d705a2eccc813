package remote

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
)

// relayEnd is the test's side of a session: what the server's relay
// would splice to a browser.
type relayEnd struct {
	conns chan *websocket.Conn
	url   string
}

func newRelayEnd(t *testing.T) *relayEnd {
	t.Helper()
	r := &relayEnd{conns: make(chan *websocket.Conn, 4)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(protocol.MaxFrameBytes)
		r.conns <- c
	}))
	t.Cleanup(srv.Close)
	r.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return r
}

func (r *relayEnd) dial(ctx context.Context) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, r.url, nil)
	return c, err
}

func startHost(t *testing.T, max int) *Host {
	t.Helper()
	h := New(slog.New(slog.DiscardHandler), max)
	if runtime.GOOS != "windows" {
		// A plain shell without the machine's profile, so prompts and
		// output are predictable.
		h.Shell = func() *exec.Cmd { return exec.Command("/bin/sh") }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func openFor(id string) protocol.SessionOpen {
	return protocol.SessionOpen{SessionID: id, Kind: protocol.SessionTerminal, Path: protocol.RelayPath + id, Token: "t",
		Expires: time.Now().Add(30 * time.Second), Cols: 80, Rows: 24}
}

// until reads frames until out matches re, returning what was read.
func until(t *testing.T, c *websocket.Conn, re *regexp.Regexp) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	for !re.Match(out.Bytes()) {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v; read so far %q", re, err, out.String())
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == protocol.FrameClose {
			t.Fatalf("waiting for %q: session closed: %s; read so far %q", re, f.Reason, out.String())
		}
		out.Write(f.Data)
	}
	return out.String()
}

func send(t *testing.T, c *websocket.Conn, b []byte) {
	t.Helper()
	if err := c.Write(t.Context(), websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
}

// startSession starts a host running shell (nil: the test's default) and
// one session on it, and returns the relay's end of the session.
func startSession(t *testing.T, shell func() *exec.Cmd) (*Host, *websocket.Conn) {
	t.Helper()
	rel := newRelayEnd(t)
	h := startHost(t, 2)
	if shell != nil {
		h.Shell = shell
	}
	if err := h.Open(openFor("s1"), rel.dial); err != nil {
		t.Fatal(err)
	}
	c := <-rel.conns
	t.Cleanup(func() { c.CloseNow() })
	return h, c
}

// closeReason reads until the agent closes the socket and returns the
// reason of its close frame.
func closeReason(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	reason, closed := "", false
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if !closed {
				t.Fatalf("no close frame: %v", err)
			}
			return reason
		}
		if f, _ := protocol.DecodeFrame(b); f.Type == protocol.FrameClose {
			reason, closed = f.Reason, true
		}
	}
}

func TestTerminal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows: see TestTerminalWindows (ConPTY)")
	}
	h, c := startSession(t, nil)
	send(t, c, protocol.DataFrame([]byte("echo hel''lo; echo TERM=$TERM\r")))
	until(t, c, regexp.MustCompile(`hello\r?\nTERM=xterm-256color`))
	send(t, c, protocol.ResizeFrame(132, 43))
	send(t, c, protocol.DataFrame([]byte("stty size\r")))
	until(t, c, regexp.MustCompile(`43 132`))

	// A background job: it must not outlive the session.
	send(t, c, protocol.DataFrame([]byte("sleep 1000 & echo PID=$!\r")))
	m := regexp.MustCompile(`PID=(\d+)`).FindStringSubmatch(until(t, c, regexp.MustCompile(`PID=\d+`)))
	pid, _ := strconv.Atoi(m[1])
	send(t, c, protocol.CloseFrame("browser left"))
	if r := closeReason(t, c); r != "browser left" {
		t.Errorf("close reason %q, want the relay's", r)
	}
	if runtime.GOOS == "linux" {
		eventually(t, "the background job to be killed", func() bool { return !alive(pid) })
	}
	eventually(t, "the session's slot to be freed", func() bool { return h.running.Load() == 0 })
}

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	// A zombie is dead for this purpose: its parent (sh) is killed too.
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func TestShellExitEndsSession(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows: see TestTerminalWindows (ConPTY)")
	}
	_, c := startSession(t, nil)
	send(t, c, protocol.DataFrame([]byte("exit 3\r")))
	if r := closeReason(t, c); !strings.Contains(r, "shell exited") {
		t.Errorf("close reason %q, want the shell's exit", r)
	}
}

func TestBusy(t *testing.T) {
	rel := newRelayEnd(t)
	h := startHost(t, 1)
	if err := h.Open(openFor("s1"), rel.dial); err != nil {
		t.Fatal(err)
	}
	if err := h.Open(openFor("s2"), rel.dial); !errors.Is(err, ErrBusy) {
		t.Errorf("second Open with max 1: %v, want ErrBusy", err)
	}
	(<-rel.conns).CloseNow()
}

func TestUnreachableRelayFreesSlot(t *testing.T) {
	h := startHost(t, 1)
	fail := func(context.Context) (*websocket.Conn, error) { return nil, errors.New("refused") }
	if err := h.Open(openFor("s1"), fail); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slot of a session whose relay was unreachable to be freed", func() bool {
		return h.Open(openFor("s2"), fail) == nil
	})
}
