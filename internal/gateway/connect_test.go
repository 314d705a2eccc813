package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func testConnectUnauthorized(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{})
	id, secret := s.enroll(t, "auth-target")
	otherID, _ := s.enroll(t, "auth-other")

	credentials := []struct {
		name, header string
	}{
		{"no header", ""},
		{"wrong secret", protocol.FormatCredential(id, auth.NewSecret(""))},
		{"secret with a typo", protocol.FormatCredential(id, typo(secret))},
		{"unknown agent", protocol.FormatCredential(store.NewID(), secret)},
		{"another agent's id", protocol.FormatCredential(otherID, secret)},
		{"bearer scheme", "Bearer " + id + "." + secret},
		{"no secret", "Agent " + id},
		{"empty secret", "Agent " + id + "."},
		{"non-ASCII secret", "Agent " + id + "." + secret + "é"},
	}
	var first []byte
	for _, c := range credentials {
		t.Run(c.name, func(t *testing.T) {
			// A plain GET (no upgrade) and a WebSocket handshake get the
			// same answer, before any upgrade happens.
			req, err := http.NewRequestWithContext(t.Context(), "GET", s.URL+protocol.ConnectPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401; body %s", res.StatusCode, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got, want := errorOf(t, body), "invalid agent credentials"; got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
			// The answer never says how close the guess was.
			if first == nil {
				first = body
			} else if !bytes.Equal(body, first) {
				t.Errorf("body = %q, want the same as every other failure: %q", body, first)
			}

			ws, wsRes, err := s.dial(t, c.header)
			if err == nil {
				ws.CloseNow()
				t.Fatal("WebSocket handshake succeeded, want 401")
			}
			if wsRes == nil || wsRes.StatusCode != http.StatusUnauthorized {
				t.Errorf("WebSocket handshake response = %v, want 401", wsRes)
			}
		})
	}
	if got := s.agentRow(t, id); got.Online {
		t.Errorf("agent is online after only failed connections")
	}
}

// typo changes the last character of s.
func typo(s string) string {
	last := "A"
	if strings.HasSuffix(s, last) {
		last = "B"
	}
	return s[:len(s)-1] + last
}

func testConnectRateLimit(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{trustProxy: true})
	id, secret := s.enroll(t, "rate-limited")
	try := func(ip, authorization string) (int, http.Header, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", s.URL+protocol.ConnectPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", authorization)
		req.Header.Set("X-Forwarded-For", ip)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}
	const limit = 60
	wrong := protocol.FormatCredential(id, auth.NewSecret(""))
	for i := range limit {
		if status, _, b := try("198.51.100.9", wrong); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401; body %s", i+1, status, b)
		}
	}
	// Now even the right secret is refused from that address.
	status, header, b := try("198.51.100.9", protocol.FormatCredential(id, secret))
	if status != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: status %d, want 429; body %s", limit, status, b)
	}
	if got, want := errorOf(t, b), "too many failed agent authentications; try again later"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if secs, err := strconv.Atoi(header.Get("Retry-After")); err != nil || secs < 1 || secs > 601 {
		t.Errorf("Retry-After = %q, want whole seconds within the 10-minute window", header.Get("Retry-After"))
	}
	// The agent itself, from its own address, still gets in.
	ws, res, err := s.dial(t, protocol.FormatCredential(id, secret))
	if err != nil {
		t.Fatalf("dial from an unblocked address: %v (%v)", err, res)
	}
	ws.CloseNow()
}

func testHello(t *testing.T, be servertest.Backend) {
	// Long enough that the silence timeout cannot close the connection
	// while a loaded machine runs the checks below.
	s := newServer(t, be, serverOptions{heartbeat: 7 * time.Second})
	id, secret := s.enroll(t, "hello-host")
	before := s.agentRow(t, id)
	if before.Online {
		t.Fatal("a newly enrolled agent is online before it connects")
	}

	hello := facts("hello-host-renamed")
	hello.AgentVersion = "0.2.0"
	hello.IPAddresses = []string{"10.9.9.9", "fe80::1"}
	start := time.Now()
	a, w := s.connect(t, id, secret, hello)

	if w.AgentID != id || w.ProtocolVersion != protocol.Version || w.ServerVersion != "test" ||
		time.Duration(w.HeartbeatInterval) != 7*time.Second {
		t.Errorf("welcome = %+v, want agent %s, protocol %d, server test, heartbeat 7s", w, id, protocol.Version)
	}
	if w.ServerTime.Before(start.Add(-time.Second)) || w.ServerTime.After(time.Now().Add(time.Second)) {
		t.Errorf("welcome server_time = %v, want now", w.ServerTime)
	}

	// The welcome is sent after the agent is recorded online.
	got := s.agentRow(t, id)
	if !got.Online || got.Hostname != "hello-host-renamed" || got.Version != "0.2.0" ||
		!cmp.Equal(got.IPAddresses, hello.IPAddresses) || got.RemoteAddr != "127.0.0.1" || got.ConnectedAt.Before(start.Add(-time.Second)) {
		t.Errorf("agent after hello = %+v, want online with the hello's facts, from 127.0.0.1, connected now", got)
	}
	if diff := cmp.Diff([]bus.PresenceEvent{{AgentID: id, ClientID: s.site.ClientID, Online: true}}, s.events.of(id)); diff != "" {
		t.Errorf("presence events (-want +got):\n%s", diff)
	}
	if c, ok := s.Hub().Lookup(id); !ok || c.AgentID != id || c.ClientID != s.site.ClientID {
		t.Errorf("hub.Lookup(%s) = %+v, %v; want the connection", id, c, ok)
	}
	if n := s.Hub().Connected(); n != 1 {
		t.Errorf("hub.Connected() = %d, want 1", n)
	}
	a.Heartbeat(t, "hb-after-hello")
}

func testMessages(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{heartbeat: time.Second})
	id, secret := s.enroll(t, "chatty")
	a, _ := s.connect(t, id, secret, facts("chatty"))

	t.Run("heartbeat", func(t *testing.T) {
		sent := time.Now()
		a.Send(t, protocol.TypeHeartbeat, "hb-1", protocol.Heartbeat{Time: sent.UTC()})
		env := a.Next(t)
		if env.Type != protocol.TypeHeartbeat || env.ID != "hb-1" {
			t.Fatalf("answer = %s %q, want heartbeat hb-1", env.Type, env.ID)
		}
		hb, err := protocol.DecodeHeartbeat(env.Data)
		if err != nil {
			t.Fatal(err)
		}
		if hb.Time.Before(sent.Add(-time.Second)) || hb.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("server heartbeat time = %v, want now", hb.Time)
		}
		// No payload and no id are fine too.
		a.SendRaw(t, []byte(`{"type":"heartbeat"}`))
		if env := a.Next(t); env.Type != protocol.TypeHeartbeat || env.ID != "" {
			t.Errorf("answer to a bare heartbeat = %s %q, want heartbeat without id", env.Type, env.ID)
		}
	})

	t.Run("bad heartbeat", func(t *testing.T) {
		a.SendRaw(t, []byte(`{"type":"heartbeat","id":"hb-bad","data":{"time":"yesterday"}}`))
		a.ReadError(t, protocol.CodeBadMessage, "hb-bad")
		a.Heartbeat(t, "hb-2")
	})

	t.Run("facts", func(t *testing.T) {
		changed := facts("chatty-renamed")
		changed.Users = []string{"alice", "bob"}
		changed.OSVersion = "13"
		a.Send(t, protocol.TypeFacts, "f-1", changed)
		a.Heartbeat(t, "hb-3")
		got := s.agentRow(t, id)
		if got.Hostname != "chatty-renamed" || got.OSVersion != "13" || !cmp.Equal(got.Users, []string{"alice", "bob"}) || !got.Online {
			t.Errorf("agent after facts = %+v, want the new hostname, os_version and users, still online", got)
		}
	})

	t.Run("invalid facts", func(t *testing.T) {
		a.Send(t, protocol.TypeFacts, "f-bad", protocol.Facts{Hostname: ""})
		a.ReadError(t, protocol.CodeBadMessage, "f-bad")
		a.SendRaw(t, []byte(`{"type":"facts","id":"f-none"}`))
		a.ReadError(t, protocol.CodeBadMessage, "f-none")
		a.Heartbeat(t, "hb-4")
		if got := s.agentRow(t, id); got.Hostname != "chatty-renamed" {
			t.Errorf("hostname after invalid facts = %q, want it unchanged", got.Hostname)
		}
	})

	t.Run("unknown type", func(t *testing.T) {
		a.Send(t, "reboot", "r-1", map[string]bool{"force": true})
		e := a.ReadError(t, protocol.CodeUnknownType, "r-1")
		if !strings.Contains(e.Message, "reboot") {
			t.Errorf("error message = %q, want it to name the type", e.Message)
		}
		a.Heartbeat(t, "hb-5") // still open
	})

	t.Run("malformed JSON", func(t *testing.T) {
		for _, raw := range []string{`{"type":`, `not json`, `{"id":"x"}`, `{"type":"has space"}`, `{"type":"hello"}{"type":"facts"}`} {
			a.SendRaw(t, []byte(raw))
			a.ReadError(t, protocol.CodeBadMessage, "")
		}
		a.Heartbeat(t, "hb-6") // still open
	})

	t.Run("agent error report", func(t *testing.T) {
		a.Send(t, protocol.TypeError, "e-1", protocol.Error{Code: "disk_full", Message: "no space"})
		a.Heartbeat(t, "hb-7") // logged, not answered
	})

	t.Run("binary message", func(t *testing.T) {
		b, _ := protocol.Encode(protocol.TypeHeartbeat, "hb-bin", nil)
		ctx := t.Context()
		if err := a.Conn().Write(ctx, websocket.MessageBinary, b); err != nil {
			t.Fatal(err)
		}
		if env := a.Next(t); env.Type != protocol.TypeHeartbeat || env.ID != "hb-bin" {
			t.Errorf("answer to a binary heartbeat = %s %q", env.Type, env.ID)
		}
	})

	t.Run("server push", func(t *testing.T) {
		c, ok := s.Hub().Lookup(id)
		if !ok {
			t.Fatal("hub.Lookup: agent not held")
		}
		if err := c.Send(t.Context(), "policy", "p-1", map[string]int{"interval": 30}); err != nil {
			t.Fatalf("Conn.Send: %v", err)
		}
		env := a.Next(t)
		if env.Type != "policy" || env.ID != "p-1" || string(env.Data) != `{"interval":30}` {
			t.Errorf("pushed message = %s %q %s, want policy p-1 {\"interval\":30}", env.Type, env.ID, env.Data)
		}
	})

	t.Run("too many malformed messages", func(t *testing.T) {
		id, secret := s.enroll(t, "garbler")
		a, _ := s.connect(t, id, secret, facts("garbler"))
		// Only a run of malformed messages counts: a valid one in between
		// starts the count again.
		for range 9 {
			a.SendRaw(t, []byte(`garbage`))
			a.ReadError(t, protocol.CodeBadMessage, "")
		}
		a.Heartbeat(t, "hb-midway")
		for range 10 {
			a.SendRaw(t, []byte(`garbage`))
			a.ReadError(t, protocol.CodeBadMessage, "")
		}
		if code := a.ReadClose(t); code != protocol.CloseProtocol {
			t.Errorf("close status = %d, want %d (CloseProtocol)", code, protocol.CloseProtocol)
		}
		eventually(t, "the agent to go offline", func() bool { return !s.agentRow(t, id).Online })
	})
}

func testProtocolViolations(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{heartbeat: time.Second})
	hello, _ := json.Marshal(facts("h"))
	tests := []struct {
		name      string
		first     []byte
		wantCode  string
		wantRefID string
	}{
		{"heartbeat first", []byte(`{"type":"heartbeat","id":"hb-0"}`), protocol.CodeNotHello, "hb-0"},
		{"facts first", []byte(`{"type":"facts","id":"f-0","data":` + string(hello) + `}`), protocol.CodeNotHello, "f-0"},
		{"malformed first message", []byte(`{"type":`), protocol.CodeBadMessage, ""},
		{"hello without facts", []byte(`{"type":"hello","id":"h-0"}`), protocol.CodeBadMessage, "h-0"},
		{"hello with invalid facts", []byte(`{"type":"hello","id":"h-1","data":{"hostname":""}}`), protocol.CodeBadMessage, "h-1"},
		{"hello with trailing data", []byte(`{"type":"hello","id":"h-2","data":{"hostname":"x"}}{}`), protocol.CodeBadMessage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, secret := s.enroll(t, "violator")
			a := s.Dial(t, id, secret)
			a.SendRaw(t, tt.first)
			a.ReadError(t, tt.wantCode, tt.wantRefID)
			if code := a.ReadClose(t); code != protocol.CloseProtocol {
				t.Errorf("close status = %d, want %d (CloseProtocol)", code, protocol.CloseProtocol)
			}
			if got := s.agentRow(t, id); got.Online {
				t.Error("agent is online after a refused hello")
			}
			if ev := s.events.of(id); len(ev) != 0 {
				t.Errorf("presence events after a refused hello: %+v, want none", ev)
			}
		})
	}

	t.Run("oversized message", func(t *testing.T) {
		id, secret := s.enroll(t, "oversized")
		a, _ := s.connect(t, id, secret, facts("oversized"))
		big := []byte(`{"type":"facts","data":{"hostname":"` + strings.Repeat("x", protocol.MaxMessageBytes) + `"}}`)
		a.SendRaw(t, big)
		if code := a.ReadClose(t); code != websocket.StatusMessageTooBig {
			t.Errorf("close status = %d, want %d (StatusMessageTooBig)", code, websocket.StatusMessageTooBig)
		}
		eventually(t, "the agent to go offline", func() bool { return !s.agentRow(t, id).Online })
	})

	t.Run("oversized hello", func(t *testing.T) {
		id, secret := s.enroll(t, "oversized-hello")
		a := s.Dial(t, id, secret)
		a.SendRaw(t, []byte(`{"type":"hello","data":{"hostname":"`+strings.Repeat("x", protocol.MaxMessageBytes)+`"}}`))
		if code := a.ReadClose(t); code != websocket.StatusMessageTooBig {
			t.Errorf("close status = %d, want %d (StatusMessageTooBig)", code, websocket.StatusMessageTooBig)
		}
		if got := s.agentRow(t, id); got.Online {
			t.Error("agent is online after an oversized hello")
		}
	})

	t.Run("largest allowed message", func(t *testing.T) {
		id, secret := s.enroll(t, "large")
		a, _ := s.connect(t, id, secret, facts("large"))
		// Padding with spaces keeps the JSON valid at exactly the limit.
		msg := []byte(`{"type":"heartbeat","id":"hb-big"}`)
		msg = append(msg, bytes.Repeat([]byte(" "), protocol.MaxMessageBytes-len(msg))...)
		a.SendRaw(t, msg)
		if env := a.Next(t); env.Type != protocol.TypeHeartbeat || env.ID != "hb-big" {
			t.Errorf("answer to a message of exactly %d bytes = %s %q, want heartbeat hb-big", protocol.MaxMessageBytes, env.Type, env.ID)
		}
	})
}
