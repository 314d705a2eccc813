package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
)

type sessionJSON struct {
	ID         string `json:"id"`
	BrowserURL string `json:"browser_url"`
}

// term is the browser's side of a terminal session, as a WebSocket client.
type term struct {
	t    *testing.T
	conn *websocket.Conn
	out  bytes.Buffer
}

// dialTerm dials a session's browser URL with the API client's token; it
// returns the HTTP status when the dial is refused.
func dialTerm(t *testing.T, api *apiClient, s sessionJSON) (*term, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(api.base, "http")+s.BrowserURL, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + api.token}},
	})
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		t.Fatalf("dial %s: %v", s.BrowserURL, err)
	}
	c.SetReadLimit(protocol.MaxFrameBytes)
	t.Cleanup(func() { c.CloseNow() })
	return &term{t: t, conn: c}, http.StatusSwitchingProtocols
}

func (tm *term) send(b []byte) {
	tm.t.Helper()
	if err := tm.conn.Write(tm.t.Context(), websocket.MessageBinary, b); err != nil {
		tm.t.Fatalf("write to the terminal: %v", err)
	}
}

// expect reads output until re matches what came since the last match.
func (tm *term) expect(re string) string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	ctx, cancel := context.WithTimeout(tm.t.Context(), 30*time.Second)
	defer cancel()
	for {
		if loc := rx.FindIndex(tm.out.Bytes()); loc != nil {
			got := string(tm.out.Bytes()[:loc[1]])
			tm.out.Next(loc[1])
			return got
		}
		_, b, err := tm.conn.Read(ctx)
		if err != nil {
			tm.t.Fatalf("waiting for %q: %v; output so far %q", re, err, tm.out.String())
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			tm.t.Fatal(err)
		}
		if f.Type == protocol.FrameClose {
			tm.t.Fatalf("waiting for %q: session closed: %s", re, f.Reason)
		}
		tm.out.Write(f.Data)
	}
}

// closed reads until the relay closes the session and returns its reason.
func (tm *term) closed() string {
	tm.t.Helper()
	ctx, cancel := context.WithTimeout(tm.t.Context(), 30*time.Second)
	defer cancel()
	reason := ""
	for {
		_, b, err := tm.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				tm.t.Fatal("the session did not close")
			}
			return reason
		}
		if f, err := protocol.DecodeFrame(b); err == nil && f.Type == protocol.FrameClose {
			reason = f.Reason
		}
	}
}

// terminalFleet is a server with one real agent online; it returns the
// agent's ID.
func terminalFleet(t *testing.T) (*scriptFleet, string) {
	t.Helper()
	f := newScriptFleet(t, 1)
	f.start(0)
	waitOnline(t, f.api, 1, 60*time.Second)
	var l agentList
	f.api.mustDo("GET", "/api/v1/agents", nil, &l, 200)
	return f, l.Items[0].ID
}

// TestTerminal opens a terminal on a real agent through the API and the
// relay: a command's output comes back, the PTY follows a resize, a
// readonly user and a reused token are refused, and killing the agent
// ends the session in the browser and in the audit log.
func TestTerminal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the terminal end-to-end test runs the Linux agent")
	}
	f, agentID := terminalFleet(t)

	var s sessionJSON
	f.api.mustDo("POST", "/api/v1/agents/"+agentID+"/sessions", map[string]any{"kind": "terminal", "cols": 80, "rows": 24}, &s, 201)
	tm, st := dialTerm(t, f.api, s)
	if st != http.StatusSwitchingProtocols {
		t.Fatalf("browser dial: status %d", st)
	}
	tm.send(protocol.DataFrame([]byte("echo hel''lo\r")))
	tm.expect(`hello\r\n`)
	tm.send(protocol.ResizeFrame(100, 30))
	tm.send(protocol.DataFrame([]byte("stty size\r")))
	tm.expect(`30 100\r\n`)

	t.Run("reused browser token", func(t *testing.T) {
		if _, st := dialTerm(t, f.api, s); st != http.StatusForbidden {
			t.Errorf("second dial of the browser URL: status %d, want 403", st)
		}
	})
	t.Run("readonly refused", func(t *testing.T) {
		if _, err := f.srv.cli("correct-horse-battery\n", "user", "create", "--email", "ro@example.com", "--role", "readonly", "--password-stdin"); err != nil {
			t.Fatal(err)
		}
		out, err := f.srv.cli("", "user", "api-token", "--email", "ro@example.com", "--name", "ro")
		if err != nil {
			t.Fatal(err)
		}
		ro := &apiClient{t: t, base: f.srv.URL, token: firstLine(out)}
		if code := ro.do("POST", "/api/v1/agents/"+agentID+"/sessions", map[string]any{"kind": "terminal"}, nil); code != http.StatusForbidden {
			t.Errorf("readonly POST sessions = %d, want 403", code)
		}
	})

	var live struct {
		Items []struct{ ID string } `json:"items"`
	}
	f.api.mustDo("GET", "/api/v1/sessions", nil, &live, 200)
	if len(live.Items) != 1 || live.Items[0].ID != s.ID {
		t.Errorf("live sessions %+v, want %s", live.Items, s.ID)
	}

	f.agents[f.configs[0]].kill()
	if reason := tm.closed(); !strings.Contains(reason, "agent") {
		t.Errorf("close reason %q, want one naming the agent", reason)
	}
	var audit struct {
		Items []struct {
			Detail map[string]string `json:"detail"`
		} `json:"items"`
	}
	waitFor(t, 30*time.Second, "session.end in the audit log", func() error {
		f.api.mustDo("GET", "/api/v1/audit?action=session.end", nil, &audit, 200)
		for _, e := range audit.Items {
			if e.Detail["session_id"] == s.ID {
				if e.Detail["bytes_to_agent"] == "0" || e.Detail["bytes_to_browser"] == "0" || e.Detail["duration"] == "" {
					return fmt.Errorf("session.end detail %v, want bytes both ways and a duration", e.Detail)
				}
				return nil
			}
		}
		return fmt.Errorf("no session.end for %s yet", s.ID)
	})
	// Once the server has seen the agent go, a new session is refused.
	waitFor(t, 30*time.Second, "a session for the killed agent refused with 409", func() error {
		if code := f.api.do("POST", "/api/v1/agents/"+agentID+"/sessions", map[string]any{"kind": "terminal"}, nil); code != http.StatusConflict {
			return fmt.Errorf("POST sessions = %d", code)
		}
		return nil
	})
}
