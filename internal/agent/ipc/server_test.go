package ipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds anything a test waits for.
const waitLimit = 10 * time.Second

// syncBuffer is a log sink for a server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServer serves a fresh endpoint with an "echo" method for any user
// until the test ends; modify adjusts the server before Serve.
func startServer(t *testing.T, modify func(*Server)) *testServer {
	t.Helper()
	return startServerAt(t, testEndpoint(t), modify)
}

func startServerAt(t *testing.T, endpoint string, modify func(*Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	s := NewServer(endpoint, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s.Handle("echo", RoleUser, func(ctx context.Context, c Caller, p json.RawMessage) (any, error) {
		return echoReply{Caller: c, Params: p}, nil
	})
	if modify != nil {
		modify(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	select {
	case <-s.Ready():
	case err := <-ts.done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("server did not start listening")
	}
	return ts
}

// stop cancels Serve and checks it returns nil promptly.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Serve got %v, want nil", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return after cancel")
	}
}

type echoReply struct {
	Caller Caller          `json:"caller"`
	Params json.RawMessage `json:"params"`
}

func dialT(t *testing.T, endpoint string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, endpoint, testOwner(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testOwner is the account test servers run as: this process's.
func testOwner(t testing.TB) Owner {
	t.Helper()
	o, err := CurrentOwner()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func callT(t *testing.T, c *Client, method string, req, resp any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return c.Call(ctx, method, req, resp)
}

func TestCallIdentifiesCaller(t *testing.T) {
	ts := startServer(t, nil)
	c := dialT(t, ts.Endpoint())
	for i := range 3 { // several calls on one connection
		var got echoReply
		if err := callT(t, c, "echo", HelpRequestArgs{Message: "hi"}, &got); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got.Caller.PID != os.Getpid() {
			t.Errorf("caller PID got %d, want this process %d", got.Caller.PID, os.Getpid())
		}
		if got.Caller.User == "" {
			t.Error("caller user is empty")
		}
		if string(got.Params) != `{"message":"hi"}` {
			t.Errorf("params got %s, want {\"message\":\"hi\"}", got.Params)
		}
	}
	checkSelf(t, func() Caller {
		var got echoReply
		if err := callT(t, c, "echo", nil, &got); err != nil {
			t.Fatal(err)
		}
		return got.Caller
	}())
}

func TestCallErrors(t *testing.T) {
	released := make(chan struct{})
	ts := startServer(t, func(s *Server) {
		s.RequestTimeout = 50 * time.Millisecond
		s.Handle("bad", RoleUser, func(context.Context, Caller, json.RawMessage) (any, error) {
			return nil, Errorf(CodeBadRequest, "message is empty")
		})
		s.Handle("broken", RoleUser, func(context.Context, Caller, json.RawMessage) (any, error) {
			return nil, errors.New("disk on fire at /secret/path")
		})
		s.Handle("panics", RoleUser, func(context.Context, Caller, json.RawMessage) (any, error) {
			panic("boom")
		})
		s.Handle("slow", RoleUser, func(ctx context.Context, _ Caller, _ json.RawMessage) (any, error) {
			<-ctx.Done()
			close(released)
			return nil, ctx.Err()
		})
		s.Handle("typed", RoleUser, func(_ context.Context, _ Caller, p json.RawMessage) (any, error) {
			var a HelpRequestArgs
			if err := DecodeParams(p, &a); err != nil {
				return nil, err
			}
			return HelpRequestReply{ID: a.Message}, nil
		})
	})
	c := dialT(t, ts.Endpoint())
	tests := []struct {
		method string
		params any
		want   error
	}{
		{"nope", nil, ErrUnknownMethod},
		{"bad", nil, ErrBadRequest},
		{"broken", nil, ErrInternal},
		{"panics", nil, ErrInternal},
		{"slow", nil, ErrTimeout},
		{"typed", []int{1}, ErrBadRequest},
	}
	for _, tt := range tests {
		err := callT(t, c, tt.method, tt.params, nil)
		if !errors.Is(err, tt.want) {
			t.Errorf("call %s got %v, want %v", tt.method, err, tt.want)
		}
		var re *RemoteError
		if !errors.As(err, &re) {
			t.Errorf("call %s got %T, want *RemoteError", tt.method, err)
		}
		if err != nil && strings.Contains(err.Error(), "/secret/path") {
			t.Errorf("call %s leaked an internal error to the caller: %v", tt.method, err)
		}
	}
	<-released
	// The connection survives every error.
	var r HelpRequestReply
	if err := callT(t, c, "typed", HelpRequestArgs{Message: "ok"}, &r); err != nil || r.ID != "ok" {
		t.Errorf("typed after errors got %+v, %v; want ID ok", r, err)
	}
}

func TestRoleChecked(t *testing.T) {
	var ran sync.Map
	user := Caller{User: "alice", UID: 1000, PID: 42}
	ts := startServer(t, func(s *Server) {
		s.identify = func(net.Conn) (Caller, error) { return user, nil }
		s.Handle("health", RoleAdmin, func(context.Context, Caller, json.RawMessage) (any, error) {
			ran.Store("health", true)
			return HealthReply{}, nil
		})
	})
	c := dialT(t, ts.Endpoint())
	if err := callT(t, c, "health", nil, nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("health as a user got %v, want ErrForbidden", err)
	}
	if _, ok := ran.Load("health"); ok {
		t.Error("the admin handler ran for a user")
	}
	if err := callT(t, c, "echo", nil, nil); err != nil {
		t.Errorf("echo as a user: %v", err)
	}
	if !strings.Contains(ts.logs.String(), "refused a call") {
		t.Error("a refused call was not logged")
	}
}

func TestConnectionLimit(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxConns = 2 })
	a, b := dialT(t, ts.Endpoint()), dialT(t, ts.Endpoint())
	// A call on each proves both hold a slot.
	for _, c := range []*Client{a, b} {
		if err := callT(t, c, "echo", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	third := dialT(t, ts.Endpoint())
	if err := callT(t, third, "echo", nil, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("third connection got %v, want ErrBusy", err)
	}
	if err := callT(t, third, "echo", nil, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("call after busy got %v, want the busy error again", err)
	}
	a.Close()
	// The slot comes back once the server sees the close.
	deadline := time.Now().Add(waitLimit)
	for {
		c := dialT(t, ts.Endpoint())
		err := callT(t, c, "echo", nil, nil)
		c.Close()
		if err == nil {
			break
		}
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("after a close got %v, want success", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := callT(t, b, "echo", nil, nil); err != nil {
		t.Errorf("the remaining connection: %v", err)
	}
}

// rawConn dials the endpoint without a Client, for wire-level tests.
func rawConn(t *testing.T, endpoint string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := dial(ctx, endpoint)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	return c
}

func readResponse(t *testing.T, c net.Conn) Response {
	t.Helper()
	b, err := ReadFrame(c)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	r, err := DecodeResponse(b)
	if err != nil {
		t.Fatalf("decode response %s: %v", b, err)
	}
	return r
}

func TestStuckClientDoesNotBlockOthers(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.IdleTimeout, s.UserIdleTimeout = 200*time.Millisecond, 200*time.Millisecond })
	stuck := rawConn(t, ts.Endpoint())
	// Half a frame, then nothing.
	if _, err := stuck.Write([]byte{0, 0, 0, 40, '{'}); err != nil {
		t.Fatal(err)
	}
	c := dialT(t, ts.Endpoint())
	if err := callT(t, c, "echo", nil, nil); err != nil {
		t.Fatalf("call beside a stuck client: %v", err)
	}
	// The idle timeout gives the stuck client's slot back.
	if _, err := io.ReadAll(stuck); err != nil {
		t.Fatalf("stuck client: %v, want the server to close it", err)
	}
}

func TestWireErrors(t *testing.T) {
	ts := startServer(t, nil)
	c := rawConn(t, ts.Endpoint())

	WriteFrame(c, []byte(`{"v":2,"id":"9","method":"echo","new":true}`))
	if r := readResponse(t, c); r.ID != "9" || r.Error == nil || r.Error.Code != CodeVersion {
		t.Errorf("v2 request got %+v, want %s for id 9", r, CodeVersion)
	}
	WriteFrame(c, []byte(`{"v":1,"id":"10","method":"echo"} trailing`))
	if r := readResponse(t, c); r.Error == nil || r.Error.Code != CodeBadRequest {
		t.Errorf("trailing data got %+v, want %s", r, CodeBadRequest)
	}
	// Still in step: a good request is answered.
	WriteFrame(c, []byte(`{"v":1,"id":"11","method":"echo"}`))
	if r := readResponse(t, c); r.ID != "11" || r.Error != nil {
		t.Errorf("good request got %+v, want a result for id 11", r)
	}
	// A length over the bound cannot be skipped: answered, then closed.
	c.Write(binary.BigEndian.AppendUint32(nil, MaxFrameBytes+1))
	if r := readResponse(t, c); r.ID != "" || r.Error == nil || r.Error.Code != CodeBadRequest {
		t.Errorf("oversized frame got %+v, want %s without id", r, CodeBadRequest)
	}
	if _, err := ReadFrame(c); !errors.Is(err, io.EOF) {
		t.Errorf("after an oversized frame got %v, want the connection closed", err)
	}
}

func TestClientContext(t *testing.T) {
	entered := make(chan struct{}, 1)
	ts := startServer(t, func(s *Server) {
		s.Handle("block", RoleUser, func(ctx context.Context, _ Caller, _ json.RawMessage) (any, error) {
			entered <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := dialT(t, ts.Endpoint())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	err := c.Call(ctx, "block", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call got %v, want context.Canceled", err)
	}
	if err := callT(t, c, "echo", nil, nil); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("call after a cancelled one got %v, want the connection broken", err)
	}
	// The server is unaffected.
	if err := callT(t, dialT(t, ts.Endpoint()), "echo", nil, nil); err != nil {
		t.Errorf("new connection: %v", err)
	}
}

func TestServeStopsAndEndpointIsFreed(t *testing.T) {
	ts := startServer(t, nil)
	c := dialT(t, ts.Endpoint())
	if err := callT(t, c, "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	ts.stop(t)
	if err := callT(t, c, "echo", nil, nil); err == nil {
		t.Error("call after Serve stopped succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := Dial(ctx, ts.Endpoint(), testOwner(t)); err == nil {
		c.Close()
		t.Error("Dial after Serve stopped succeeded")
	}
	// The same endpoint can be served again.
	again := startServerAt(t, ts.Endpoint(), nil)
	if err := callT(t, dialT(t, again.Endpoint()), "echo", nil, nil); err != nil {
		t.Errorf("call to the second server: %v", err)
	}
}

func TestHandlePanicsOnMisuse(t *testing.T) {
	s := NewServer("x", slog.New(slog.DiscardHandler))
	h := func(context.Context, Caller, json.RawMessage) (any, error) { return nil, nil }
	s.Handle("ok", RoleUser, h)
	for _, m := range []string{"ok", "", "Bad Method"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", m)
				}
			}()
			s.Handle(m, RoleUser, h)
		}()
	}
}

// BenchmarkCall measures one call's round trip over the endpoint.
func BenchmarkCall(b *testing.B) {
	endpoint := benchEndpoint(b)
	s := NewServer(endpoint, slog.New(slog.DiscardHandler))
	s.Handle(MethodStatus, RoleUser, func(context.Context, Caller, json.RawMessage) (any, error) {
		return StatusReply{AgentID: "agent-1", Hostname: "web-01", IPAddresses: []string{"10.0.0.5"}, Version: "1.0.0"}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-s.Ready()
	c, err := Dial(ctx, endpoint, testOwner(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var st StatusReply
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Call(ctx, MethodStatus, nil, &st); err != nil {
			b.Fatal(err)
		}
	}
}
