package tray

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/steward-rmm/steward/internal/protocol"
)

// The tray's menu cannot take typed text, so "Request help" and "About
// this computer" are small pages served on 127.0.0.1 for one click and
// opened in the user's browser. The URL carries a random token that only
// this user's browser was given; the form also carries a second random
// value and the Host and Origin headers are checked, so that neither
// another web page (CSRF, DNS rebinding) nor another local user who finds
// the port can use it.
//
// The browser is not given the URL on its command line, where every local
// user could read it (ps, /proc/PID/cmdline): the tray writes it into a
// small redirect file, readable only by the user (0600 in a fresh 0700
// directory), opens that file, and deletes it once the browser has
// followed it or the page is done.

// pageLifetime is how long a page stays served after the click.
const pageLifetime = 10 * time.Minute

// helpTimeout bounds the wait for the agent to take a help request.
const helpTimeout = 30 * time.Second

type pageKind int

const (
	helpPage pageKind = iota
	aboutPage
)

// pageInfo is what the pages show besides the agent's status.
type pageInfo struct {
	Title   string // company name or "Steward"
	Support string
}

// page is one served page. It stops after a help request was sent, after
// its lifetime, or on Close, whichever comes first.
type page struct {
	kind  pageKind
	agent Agent
	info  pageInfo
	log   *slog.Logger

	host  string // "127.0.0.1:port", the only Host header accepted
	token string // in the URL path
	csrf  string // in the help form

	redirect     string // the redirect file to open in the browser
	redirectOnce sync.Once

	cancel context.CancelFunc
	done   chan struct{} // closed when the server has stopped

	mu   sync.Mutex // serializes submits, so one request is sent once
	sent chan struct{}
	id   string // the sent request's reference
}

// startPage serves a page on a random port of 127.0.0.1 until it is used,
// lifetime passes, ctx ends or Close is called.
func startPage(ctx context.Context, kind pageKind, a Agent, info pageInfo, lifetime time.Duration, log *slog.Logger) (*page, error) {
	// rand.Text: 128 random bits, URL-safe.
	token, csrf := rand.Text(), rand.Text()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the local page: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, lifetime)
	p := &page{
		kind: kind, agent: a, info: info, log: log,
		host: ln.Addr().String(), token: token, csrf: csrf,
		cancel: cancel, done: make(chan struct{}), sent: make(chan struct{}),
	}
	if p.redirect, err = writeRedirect(p.URL()); err != nil {
		cancel()
		ln.Close()
		return nil, err
	}
	go p.serve(ctx, ln)
	return p, nil
}

// Limits of one request, as net/http's server would set them.
const (
	pageReadTimeout = 30 * time.Second
	pageMaxHeader   = 16 << 10
	pageMaxBody     = 4*protocol.MaxHelpMessageLen + 1024
)

// serve answers connections on ln until the page is done, then lets the
// answers under way finish; it owns the accepting goroutine and one per
// connection. It is net/http's request parsing with one request per
// connection and the answer written whole, rather than http.Server:
// the server, its connection state machine and its router cost the agent
// binary 0.2 MB for a page served a few times a year.
func (p *page) serve(ctx context.Context, ln net.Listener) {
	defer close(p.done)
	defer p.removeRedirect()
	var conns sync.WaitGroup
	defer conns.Wait()
	accepted := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			conns.Go(func() { p.serveConn(ctx, c) })
		}
	}()
	select {
	case <-ctx.Done():
	case <-p.sent:
	case err := <-accepted:
		p.log.Error("local page server stopped", "err", err)
		return
	}
	ln.Close()
	<-accepted
}

// serveConn reads one request from c, answers it and closes c.
func (p *page) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(pageReadTimeout))
	// When the page ends, a client still sending is cut off; an answer
	// being made is still written.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	lr := &io.LimitedReader{R: c, N: pageMaxHeader}
	req, err := http.ReadRequest(bufio.NewReader(lr))
	if err != nil {
		if !errors.Is(err, io.EOF) {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		}
		return
	}
	lr.N = pageMaxBody + 1 // the body may follow the header; submit caps it exactly
	w := &pageResponse{header: http.Header{}}
	p.ServeHTTP(w, req.WithContext(ctx))
	if w.code == 0 {
		w.code = http.StatusOK
	}
	h := w.header
	h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	h.Set("Connection", "close")
	bw := bufio.NewWriter(c)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", w.code, http.StatusText(w.code))
	h.Write(bw)
	bw.WriteString("\r\n")
	if req.Method != http.MethodHead {
		bw.Write(w.body.Bytes())
	}
	if err := bw.Flush(); err != nil {
		p.log.Debug("write the local page", "err", err)
	}
}

// pageResponse collects an answer to write it whole.
type pageResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *pageResponse) Header() http.Header { return w.header }

func (w *pageResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *pageResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// URL is the page's address, with its token.
func (p *page) URL() string { return "http://" + p.host + "/" + p.token + "/" }

// File is the redirect file to open in the browser: it leads to URL
// without putting the token on a command line.
func (p *page) File() string { return p.redirect }

// writeRedirect writes a page that sends the browser to u into a fresh
// directory only this user can read, and returns its path.
func writeRedirect(u string) (string, error) {
	dir, err := os.MkdirTemp("", "steward-tray-") // 0700
	if err != nil {
		return "", fmt.Errorf("directory for the page's redirect: %w", err)
	}
	a := html.EscapeString(u)
	body := `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
		`<meta http-equiv="refresh" content="0;url=` + a + `"><title>Steward</title></head>` +
		`<body><p><a href="` + a + `">Continue</a></p></body></html>` + "\n"
	f := filepath.Join(dir, "open.html")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("write the page's redirect: %w", err)
	}
	return f, nil
}

// removeRedirect deletes the redirect file and its directory, once.
func (p *page) removeRedirect() {
	p.redirectOnce.Do(func() {
		if err := os.RemoveAll(filepath.Dir(p.redirect)); err != nil {
			p.log.Warn("cannot remove the page's redirect file", "path", p.redirect, "err", err)
		}
	})
}

// Done is closed when the page has stopped serving.
func (p *page) Done() <-chan struct{} { return p.done }

// Close stops the page and waits for its server.
func (p *page) Close() {
	p.cancel()
	<-p.done
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	// A foreign Host is a DNS-rebinding page reaching the port.
	tok := strings.Trim(r.URL.Path, "/")
	if r.Host != p.host || subtle.ConstantTimeCompare([]byte(tok), []byte(p.token)) != 1 {
		p.write(w, http.StatusForbidden, "Link not valid",
			"<p>This link is not valid or has expired. Open the page again from the tray menu.</p>")
		return
	}
	// The browser followed the redirect: the file has done its job.
	p.removeRedirect()
	switch {
	case r.Method == http.MethodGet && p.kind == helpPage:
		p.writeForm(w, http.StatusOK, "", "")
	case r.Method == http.MethodPost && p.kind == helpPage:
		p.submit(w, r)
	case r.Method == http.MethodGet && p.kind == aboutPage:
		p.writeAbout(w, r)
	default:
		h.Set("Allow", "GET")
		p.write(w, http.StatusMethodNotAllowed, "Not allowed", "<p>This page cannot do that.</p>")
	}
}

// submit checks a posted help form and hands the message to the agent.
func (p *page) submit(w http.ResponseWriter, r *http.Request) {
	// Browsers send Origin on every POST and Sec-Fetch-Site when they know
	// it; a form from any other page fails here even before the token.
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+p.host {
		p.write(w, http.StatusForbidden, "Not allowed", "<p>This form can only be sent from its own page.</p>")
		return
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		p.write(w, http.StatusForbidden, "Not allowed", "<p>This form can only be sent from its own page.</p>")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, pageMaxBody)
	if err := r.ParseForm(); err != nil {
		p.writeForm(w, http.StatusBadRequest, "", "The form could not be read; please try again.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(p.csrf)) != 1 {
		p.write(w, http.StatusForbidden, "Not allowed", "<p>This form has expired. Open it again from the tray menu.</p>")
		return
	}
	msg := cleanMessage(r.PostForm.Get("message"))
	switch {
	case msg == "":
		p.writeForm(w, http.StatusBadRequest, msg, "Please describe what you need help with.")
		return
	case len(msg) > protocol.MaxHelpMessageLen:
		p.writeForm(w, http.StatusBadRequest, msg, fmt.Sprintf(
			"Your message is too long (%d bytes); please keep it under %d.", len(msg), protocol.MaxHelpMessageLen))
		return
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.id != "" {
		p.writeSent(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), helpTimeout)
	defer cancel()
	id, err := p.agent.HelpRequest(ctx, msg)
	if err != nil {
		p.log.Warn("help request failed", "err", err)
		text := "Your request could not be sent: " + err.Error() + ". Please try again"
		if p.info.Support != "" {
			text += ", or contact support: " + p.info.Support
		}
		p.writeForm(w, http.StatusBadGateway, msg, text+".")
		return
	}
	p.log.Info("help request sent", "id", id)
	p.id = id
	p.writeSent(w)
	close(p.sent)
}

// cleanMessage keeps what a user typed, minus control characters other
// than line breaks and tabs, with Windows line ends made plain.
func cleanMessage(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, s)
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

func (p *page) writeForm(w http.ResponseWriter, code int, msg, problem string) {
	var b strings.Builder
	if problem != "" {
		fmt.Fprintf(&b, `<p class="err" role="alert">%s</p>`, html.EscapeString(problem))
	}
	fmt.Fprintf(&b, `<form method="post" action="/%s/">
<input type="hidden" name="csrf" value="%s">
<label for="message">What do you need help with?</label>
<textarea id="message" name="message" rows="8" maxlength="%d" required autofocus>%s</textarea>
<button type="submit">Send to %s</button>
</form>`, p.token, p.csrf, protocol.MaxHelpMessageLen, html.EscapeString(msg), html.EscapeString(p.info.Title))
	if p.info.Support != "" {
		fmt.Fprintf(&b, `<p class="muted">Support: %s</p>`, html.EscapeString(p.info.Support))
	}
	p.write(w, code, "Request help", b.String())
}

func (p *page) writeSent(w http.ResponseWriter) {
	p.write(w, http.StatusOK, "Request sent", fmt.Sprintf(
		`<p class="ok">Your request was sent to %s.</p><p class="muted">Reference: %s. You can close this page.</p>`,
		html.EscapeString(p.info.Title), html.EscapeString(p.id)))
}

func (p *page) writeAbout(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st, err := p.agent.Status(ctx)
	var b strings.Builder
	if err != nil {
		p.log.Warn("status for the about page", "err", err)
		b.WriteString(`<p class="err">The Steward agent is not running, so these details are not available.</p>`)
	} else {
		conn := "not connected to the server"
		if st.Connected {
			conn = "connected"
		}
		b.WriteString("<dl>")
		for _, row := range [][2]string{
			{"Computer name", st.Hostname},
			{"IP addresses", strings.Join(st.IPs, ", ")},
			{"Agent ID", st.AgentID},
			{"Agent version", st.Version},
			{"Agent", conn},
			{"Attention", st.Attention},
		} {
			if row[1] != "" {
				fmt.Fprintf(&b, "<dt>%s</dt><dd>%s</dd>", row[0], html.EscapeString(row[1]))
			}
		}
		b.WriteString("</dl>")
	}
	if p.info.Support != "" {
		fmt.Fprintf(&b, `<p class="muted">Support: %s</p>`, html.EscapeString(p.info.Support))
	}
	p.write(w, http.StatusOK, "About this computer", b.String())
}

// write sends a whole page; body is HTML already escaped.
func (p *page) write(w http.ResponseWriter, code int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>%[1]s: %[2]s</title>
<style>
body{font:16px system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}label{display:block;margin:.5rem 0}
textarea{width:100%%;box-sizing:border-box;font:inherit}button{margin-top:.75rem;font:inherit;padding:.4rem 1rem}
.err{color:#a40000}.ok{color:#1f6b3a}.muted{color:#666}dt{font-weight:600;margin-top:.5rem}dd{margin:0}
</style></head>
<body><h1>%[1]s: %[2]s</h1>
%[3]s
</body></html>
`, html.EscapeString(p.info.Title), html.EscapeString(title), body)
}
