package tray

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func startTestPage(t *testing.T, kind pageKind, a Agent, lifetime time.Duration) *page {
	t.Helper()
	p, err := startPage(t.Context(), kind, a, pageInfo{Title: "Acme IT", Support: "+1 555 0100"}, lifetime, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("startPage: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// do sends a request and returns the status and body.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL, err)
	}
	return resp.StatusCode, string(b)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func post(t *testing.T, u string, form url.Values, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formCSRF loads the help form and returns its CSRF value.
func formCSRF(t *testing.T, p *page) string {
	t.Helper()
	code, body := get(t, p.URL())
	if code != http.StatusOK {
		t.Fatalf("GET form: status %d, want 200", code)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET form: no csrf field in %s", body)
	}
	return m[1]
}

func TestHelpPageRefusals(t *testing.T) {
	a := &fakeAgent{}
	p := startTestPage(t, helpPage, a, time.Hour)
	csrf := formCSRF(t, p)
	base := "http://" + p.host
	good := url.Values{"csrf": {csrf}, "message": {"printer is broken"}}

	tests := []struct {
		name string
		req  func() (int, string)
		want int
	}{
		{"no token", func() (int, string) { return get(t, base+"/") }, http.StatusForbidden},
		{"wrong token", func() (int, string) { return get(t, base+"/"+strings.Repeat("A", len(p.token))+"/") }, http.StatusForbidden},
		{"token prefix", func() (int, string) { return get(t, base+"/"+p.token[:10]+"/") }, http.StatusForbidden},
		{"post wrong token", func() (int, string) { return post(t, base+"/nope/", good, nil) }, http.StatusForbidden},
		{"foreign host (DNS rebinding)", func() (int, string) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.URL(), nil)
			req.Host = "evil.example:" + strings.Split(p.host, ":")[1]
			return do(t, req)
		}, http.StatusForbidden},
		{"no csrf", func() (int, string) {
			return post(t, p.URL(), url.Values{"message": {"x"}}, nil)
		}, http.StatusForbidden},
		{"wrong csrf", func() (int, string) {
			return post(t, p.URL(), url.Values{"csrf": {"x" + csrf}, "message": {"x"}}, nil)
		}, http.StatusForbidden},
		{"foreign origin", func() (int, string) {
			return post(t, p.URL(), good, map[string]string{"Origin": "https://evil.example"})
		}, http.StatusForbidden},
		{"cross-site fetch", func() (int, string) {
			return post(t, p.URL(), good, map[string]string{"Sec-Fetch-Site": "cross-site"})
		}, http.StatusForbidden},
		{"empty message", func() (int, string) {
			return post(t, p.URL(), url.Values{"csrf": {csrf}, "message": {" \r\n\x00 "}}, nil)
		}, http.StatusBadRequest},
		{"message too long", func() (int, string) {
			return post(t, p.URL(), url.Values{"csrf": {csrf}, "message": {strings.Repeat("x", 2001)}}, nil)
		}, http.StatusBadRequest},
		{"body too large", func() (int, string) {
			return post(t, p.URL(), url.Values{"csrf": {csrf}, "message": {strings.Repeat("x", 20000)}}, nil)
		}, http.StatusBadRequest},
		{"wrong method", func() (int, string) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, p.URL(), nil)
			return do(t, req)
		}, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, body := tt.req(); got != tt.want {
				t.Errorf("status %d, want %d; body:\n%s", got, tt.want, body)
			}
		})
	}
	if got := a.helpMessages(); len(got) != 0 {
		t.Errorf("agent received %q from refused requests, want nothing", got)
	}
	select {
	case <-p.Done():
		t.Error("page stopped after refused requests; it must stay until a request is sent")
	default:
	}
}

func TestHelpPageSendsOnce(t *testing.T) {
	a := &fakeAgent{helpErr: errors.New("agent busy")}
	p := startTestPage(t, helpPage, a, time.Hour)
	csrf := formCSRF(t, p)
	hdr := map[string]string{"Origin": "http://" + p.host, "Sec-Fetch-Site": "same-origin"}
	msg := "The <b>printer</b>\r\non floor 2 is jammed & offline"

	// The agent fails: the form comes back with the error and the text kept.
	code, body := post(t, p.URL(), url.Values{"csrf": {csrf}, "message": {msg}}, hdr)
	if code != http.StatusBadGateway {
		t.Fatalf("post with failing agent: status %d, want 502", code)
	}
	for _, want := range []string{"could not be sent: agent busy", "contact support: +1 555 0100",
		"The &lt;b&gt;printer&lt;/b&gt;\non floor 2 is jammed &amp; offline"} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q:\n%s", want, body)
		}
	}

	a.set(func(f *fakeAgent) { f.helpErr = nil })
	code, body = post(t, p.URL(), url.Values{"csrf": {csrf}, "message": {msg}}, hdr)
	if code != http.StatusOK || !strings.Contains(body, "Your request was sent to Acme IT") || !strings.Contains(body, "req-1") {
		t.Fatalf("post: status %d, want 200 with the sent page:\n%s", code, body)
	}
	if diff := cmp.Diff([]string{"The <b>printer</b>\non floor 2 is jammed & offline"}, a.helpMessages()); diff != "" {
		t.Errorf("agent received (-want +got):\n%s", diff)
	}
	select {
	case <-p.Done():
	case <-t.Context().Done():
		t.Fatal("page still serving after the request was sent")
	}
	if _, err := http.Get(p.URL()); err == nil {
		t.Error("GET after the page closed succeeded, want a refused connection")
	}
}

func TestPageLifetime(t *testing.T) {
	p := startTestPage(t, helpPage, &fakeAgent{}, 50*time.Millisecond)
	select {
	case <-p.Done():
	case <-t.Context().Done():
		t.Fatal("page still serving after its lifetime")
	}
}

func TestAboutPage(t *testing.T) {
	a := &fakeAgent{status: Status{Connected: true, AgentID: "0a1b-2c3d", Hostname: "pc-<script>",
		IPs: []string{"192.0.2.10", "2001:db8::10"}, Version: "1.4.0"}}
	p := startTestPage(t, aboutPage, a, time.Hour)
	code, body := get(t, p.URL())
	if code != http.StatusOK {
		t.Fatalf("GET about: status %d", code)
	}
	for _, want := range []string{"pc-&lt;script&gt;", "192.0.2.10, 2001:db8::10", "0a1b-2c3d", "1.4.0", "connected", "Support: +1 555 0100"} {
		if !strings.Contains(body, want) {
			t.Errorf("about page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("about page holds an unescaped hostname")
	}
	if code, _ := post(t, p.URL(), url.Values{}, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST about: status %d, want 405", code)
	}

	a.set(func(f *fakeAgent) { f.statusErr = errors.New("dial: refused") })
	if _, body := get(t, p.URL()); !strings.Contains(body, "agent is not running") {
		t.Errorf("about page with the agent down lacks the explanation:\n%s", body)
	}
	if code, _ := get(t, "http://"+p.host+"/x/"); code != http.StatusForbidden {
		t.Errorf("about with a wrong token: status %d, want 403", code)
	}
}

// TestPageBadRequests: a header over the limit or a request that is not
// HTTP gets 400 and the connection closed; a client that connects and
// sends nothing does not hold up Close.
func TestPageBadRequests(t *testing.T) {
	p := startTestPage(t, helpPage, &fakeAgent{}, time.Minute)
	for name, req := range map[string]string{
		"header too large": "GET /" + p.token + "/ HTTP/1.1\r\nHost: " + p.host + "\r\nX: " + strings.Repeat("a", pageMaxHeader) + "\r\n\r\n",
		"not http":         "hello\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", p.host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The server may answer before it read everything sent.
			go io.WriteString(c, req)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("read the answer: %v", err)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
		})
	}
	idle, err := net.Dial("tcp", p.host)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// Connections are accepted in order: once this one is answered, the
	// idle one is being served too.
	if code, _ := get(t, p.URL()); code != http.StatusOK {
		t.Fatalf("GET: status %d", code)
	}
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // far less than the read timeout
		t.Fatal("Close waited for a client that sends nothing")
	}
}
