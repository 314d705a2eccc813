package servertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/store"
)

// Request is one HTTP call to the server. Token, when set, is sent as a
// bearer API token.
type Request struct {
	Method, Path string
	Body         string
	Token        string
	// ContentType defaults to application/json when Body is set.
	ContentType string
	Header      http.Header
	Cookies     []*http.Cookie
}

// Response is what the server answered, body read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends the request and reads the whole response.
func (s *Server) Do(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(testContext(t), r.Method, s.URL+r.Path, body)
	if err != nil {
		t.Fatalf("NewRequest(%s %s): %v", r.Method, r.Path, err)
	}
	if r.Body != "" {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	for _, c := range r.Cookies {
		req.AddCookie(c)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.Method, r.Path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// As calls the API with the API token of the role's seeded user.
func (s *Server) As(t testing.TB, role store.Role, method, path, body string) Response {
	t.Helper()
	return s.Do(t, Request{Method: method, Path: path, Body: body, Token: s.User(t, role).Token})
}

// Want fails the test unless the response has the status.
func (r Response) Want(t testing.TB, status int) Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	return r
}

// Decode parses the response body as JSON into a T.
func Decode[T any](t testing.TB, r Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.Body, err)
	}
	return v
}
