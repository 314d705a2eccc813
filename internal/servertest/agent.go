package servertest

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Agent is a fake steward-agent speaking the real protocol over a real
// WebSocket. Dial opens it raw (the test reads every message itself);
// Connect says hello and runs it live: a reader goroutine hands the test
// every message but the answers to its own heartbeats, a heartbeat
// goroutine keeps it online like the real agent, and an Answer function,
// if given, answers commands by itself.
type Agent struct {
	ID, Secret string
	// Welcome is the server's answer to hello, once said.
	Welcome protocol.Welcome
	// Answered counts the commands answered by the Answer function.
	Answered atomic.Int32

	ws    *websocket.Conn
	msgs  chan protocol.Envelope // nil while raw
	syncs atomic.Int64
	stop  func()
}

// AgentOptions shape a live agent.
type AgentOptions struct {
	// Facts are said in hello; zero means Facts("agent-" + ID).
	Facts protocol.Facts
	// Answer, when set, answers every command the agent receives instead
	// of handing it to the test; a false second result hands it over.
	Answer func(protocol.Command) (protocol.Result, bool)
	// NoHeartbeats leaves the agent silent after hello, as a hung one.
	NoHeartbeats bool
}

// AnswerPings answers pings as the real agent does and hands every other
// command to the test.
func AnswerPings(c protocol.Command) (protocol.Result, bool) {
	if c.Name != protocol.CommandPing {
		return protocol.Result{}, false
	}
	out, _ := json.Marshal(protocol.PingOutput{AgentTime: time.Now().UTC()})
	return protocol.Result{CommandID: c.CommandID, Status: protocol.ResultOK, Output: out}, true
}

// DialControl opens the control channel with an Authorization header value
// (empty for none), returning the handshake's error as is.
func (s *Server) DialControl(t testing.TB, authorization string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return DialControl(t, s.URL, authorization)
}

// DialControl opens the control channel of the server at baseURL (any
// handler serving the gateway's routes, for tests of the hub alone).
func DialControl(t testing.TB, baseURL, authorization string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), Wait)
	defer cancel()
	h := http.Header{}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	url := "ws" + strings.TrimPrefix(baseURL, "http") + protocol.ConnectPath
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if ws != nil {
		t.Cleanup(func() { ws.CloseNow() })
	}
	return ws, res, err
}

// Dial opens the control channel as the agent without saying hello.
func (s *Server) Dial(t testing.TB, id, secret string) *Agent {
	t.Helper()
	return Dial(t, s.URL, id, secret)
}

// Connect dials as the agent, says hello, waits for the welcome and runs
// the agent live until the test ends or Close.
func (s *Server) Connect(t testing.TB, id, secret string, o AgentOptions) *Agent {
	t.Helper()
	return Connect(t, s.URL, id, secret, o)
}

// Dial opens the control channel of the server at baseURL as the agent,
// without saying hello.
func Dial(t testing.TB, baseURL, id, secret string) *Agent {
	t.Helper()
	ws, res, err := DialControl(t, baseURL, protocol.FormatCredential(id, secret))
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial control channel as %s: %v (HTTP %d)", id, err, status)
	}
	return &Agent{ID: id, Secret: secret, ws: ws, stop: func() {}}
}

// Connect dials the server at baseURL as the agent, says hello, waits for
// the welcome and runs the agent live until the test ends or Close.
func Connect(t testing.TB, baseURL, id, secret string, o AgentOptions) *Agent {
	t.Helper()
	a := Dial(t, baseURL, id, secret)
	f := o.Facts
	if f.Hostname == "" {
		f = Facts("agent-" + id)
	}
	a.Hello(t, f)

	a.msgs = make(chan protocol.Envelope, 256)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.readLoop(ctx, o.Answer) })
	if !o.NoHeartbeats {
		wg.Go(func() { a.heartbeats(ctx, time.Duration(a.Welcome.HeartbeatInterval)) })
	}
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			a.ws.CloseNow()
			wg.Wait()
		})
	}
	t.Cleanup(a.stop)
	return a
}

// Hello says hello with the facts and reads the welcome.
func (a *Agent) Hello(t testing.TB, f protocol.Facts) protocol.Welcome {
	t.Helper()
	a.Send(t, protocol.TypeHello, "hello-1", f)
	env := a.Next(t)
	// A policy change pushed while the server registers the connection can
	// reach the agent before its welcome (the push service sends it again
	// after the welcome when the welcome's revision is older); real agents
	// take it either way.
	for env.Type == protocol.TypePolicy {
		env = a.Next(t)
	}
	if env.Type != protocol.TypeWelcome {
		t.Fatalf("agent %s: answer to hello = %s %s, want welcome", a.ID, env.Type, env.Data)
	}
	w, err := protocol.DecodeWelcome(env.Data)
	if err != nil {
		t.Fatalf("DecodeWelcome(%s): %v", env.Data, err)
	}
	a.Welcome = w
	return w
}

func (a *Agent) readLoop(ctx context.Context, answer func(protocol.Command) (protocol.Result, bool)) {
	defer close(a.msgs)
	for {
		_, b, err := a.ws.Read(ctx)
		if err != nil {
			return
		}
		env, err := protocol.DecodeEnvelope(b)
		if err != nil {
			env = protocol.Envelope{Type: "undecodable", Data: b}
		}
		if env.Type == protocol.TypeHeartbeat && env.ID == "" {
			continue // the answer to a background heartbeat
		}
		if answer != nil && env.Type == protocol.TypeCommand {
			if cmd, err := protocol.DecodeCommand(env.Data); err == nil {
				if res, ok := answer(cmd); ok {
					// Counted before it is written: once the server has
					// stored the answer, a test must find it counted.
					a.Answered.Add(1)
					if a.write(ctx, protocol.TypeResult, "", res) != nil {
						a.Answered.Add(-1)
					}
					continue
				}
			}
		}
		select {
		case a.msgs <- env:
		case <-ctx.Done():
			return
		}
	}
}

func (a *Agent) heartbeats(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a.write(ctx, protocol.TypeHeartbeat, "", protocol.Heartbeat{Time: time.Now().UTC()}) != nil {
				return
			}
		}
	}
}

func (a *Agent) write(ctx context.Context, typ, id string, payload any) error {
	b, err := protocol.Encode(typ, id, payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, Wait)
	defer cancel()
	return a.ws.Write(ctx, websocket.MessageText, b)
}

// Send writes one message.
func (a *Agent) Send(t testing.TB, typ, id string, payload any) {
	t.Helper()
	b, err := protocol.Encode(typ, id, payload)
	if err != nil {
		t.Fatalf("Encode(%s): %v", typ, err)
	}
	a.SendRaw(t, b)
}

// SendRaw writes bytes as one text message.
func (a *Agent) SendRaw(t testing.TB, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), Wait)
	defer cancel()
	if err := a.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("agent %s: write %d bytes: %v", a.ID, len(b), err)
	}
}

// Next returns the next message from the server.
func (a *Agent) Next(t testing.TB) protocol.Envelope {
	t.Helper()
	if a.msgs == nil {
		ctx, cancel := context.WithTimeout(testContext(t), Wait)
		defer cancel()
		_, b, err := a.ws.Read(ctx)
		if err != nil {
			t.Fatalf("agent %s: read from server: %v", a.ID, err)
		}
		env, err := protocol.DecodeEnvelope(b)
		if err != nil {
			t.Fatalf("agent %s: DecodeEnvelope(%s): %v", a.ID, b, err)
		}
		return env
	}
	select {
	case env, ok := <-a.msgs:
		if !ok {
			t.Fatalf("agent %s: connection closed", a.ID)
		}
		return env
	case <-time.After(Wait):
		t.Fatalf("agent %s: no message within %v", a.ID, Wait)
	}
	panic("unreachable")
}

// Command reads the next message, which must be a command.
func (a *Agent) Command(t testing.TB) protocol.Command {
	t.Helper()
	env := a.Next(t)
	if env.Type != protocol.TypeCommand {
		t.Fatalf("agent %s got %s %s, want a command", a.ID, env.Type, env.Data)
	}
	c, err := protocol.DecodeCommand(env.Data)
	if err != nil {
		t.Fatalf("DecodeCommand(%s): %v", env.Data, err)
	}
	return c
}

// ReadError reads the next message, which must be an error with the code
// referring to refID.
func (a *Agent) ReadError(t testing.TB, code, refID string) protocol.Error {
	t.Helper()
	env := a.Next(t)
	if env.Type != protocol.TypeError {
		t.Fatalf("agent %s got %s %s, want an error message", a.ID, env.Type, env.Data)
	}
	e, err := protocol.DecodeError(env.Data)
	if err != nil {
		t.Fatalf("DecodeError(%s): %v", env.Data, err)
	}
	if e.Code != code || e.RefID != refID || e.Message == "" {
		t.Errorf("error = %+v, want code %q, ref_id %q and a message", e, code, refID)
	}
	return e
}

// Sync sends a heartbeat with an ID and waits for its answer, which must
// be the next message. The server handles an agent's messages in order,
// so every earlier message has been handled, and every command queued for
// the agent before has been written to it.
func (a *Agent) Sync(t testing.TB) {
	t.Helper()
	a.Heartbeat(t, "sync-"+strconv.FormatInt(a.syncs.Add(1), 10))
}

// Heartbeat sends a heartbeat with the ID and waits for its answer, which
// must be the next message (see Sync).
func (a *Agent) Heartbeat(t testing.TB, id string) {
	t.Helper()
	a.Send(t, protocol.TypeHeartbeat, id, protocol.Heartbeat{Time: time.Now().UTC()})
	if env := a.Next(t); env.Type != protocol.TypeHeartbeat || env.ID != id {
		t.Fatalf("agent %s got %s %q %s, want the answer to heartbeat %s", a.ID, env.Type, env.ID, env.Data, id)
	}
}

// ReadClose reads until the server closes the connection and returns the
// close status. Only for a raw agent.
func (a *Agent) ReadClose(t testing.TB) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), Wait)
	defer cancel()
	for {
		_, b, err := a.ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("agent %s: server did not close the connection within %v", a.ID, Wait)
			}
			return websocket.CloseStatus(err)
		}
		t.Logf("agent %s: message before close: %s", a.ID, b)
	}
}

// Conn is the agent's WebSocket, for tests that need the raw connection.
func (a *Agent) Conn() *websocket.Conn { return a.ws }

// Close closes the connection normally and stops the agent's goroutines.
func (a *Agent) Close() {
	a.ws.Close(websocket.StatusNormalClosure, "bye")
	a.stop()
}

// Kill drops the connection without a close handshake, as a crash would.
func (a *Agent) Kill() {
	a.ws.CloseNow()
	a.stop()
}
