package notify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a self-signed certificate for 127.0.0.1, made per test run,
// and the pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// received is one message a test relay accepted.
type received struct {
	From string
	To   []string
	Data string
	// User is who authenticated, "" for nobody; TLS whether the session
	// was encrypted when the message came.
	User string
	TLS  bool
}

// relay is a real SMTP server on a loopback socket.
type relay struct {
	Port int
	// Pool trusts the relay's certificate.
	Pool *x509.CertPool

	mu sync.Mutex
	// rejectRcpt makes RCPT fail with 550 while true.
	rejectRcpt bool
	msgs       []received
}

// relayMode is how a test relay speaks: plain with STARTTLS offered, or
// implicit TLS.
type relayMode int

const (
	relayStartTLS relayMode = iota
	relayImplicitTLS
	relayPlain // no TLS at all
)

const (
	relayUser     = "steward"
	relayPassword = "correct horse"
)

func newRelay(t *testing.T, mode relayMode) *relay {
	t.Helper()
	cert, pool := testCert(t)
	r := &relay{Pool: pool}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r, c: c}, nil
	}))
	s.Domain = "relay.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch mode {
	case relayStartTLS:
		s.TLSConfig = tlsCfg
	case relayImplicitTLS:
		ln = tls.NewListener(ln, tlsCfg)
	}
	r.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return r
}

func (r *relay) setRejectRcpt(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejectRcpt = v
}

func (r *relay) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

type relaySession struct {
	r    *relay
	c    *smtp.Conn
	user string
	msg  received
}

func (s *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != relayUser || pass != relayPassword {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	_, isTLS := s.c.TLSConnectionState()
	s.msg = received{From: from, User: s.user, TLS: isTLS}
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	reject := s.r.rejectRcpt
	s.r.mu.Unlock()
	if reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox here"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(b)
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.msg)
	s.r.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        { s.msg = received{} }
func (s *relaySession) Logout() error { return nil }

// parsed is a received message decoded: headers, decoded subject and body.
type parsed struct {
	Header  mail.Header
	Subject string
	Body    string
}

func parseMessage(t *testing.T, data string) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", m.Header.Get("Subject"), err)
	}
	if got := m.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding %q, want quoted-printable", got)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return parsed{Header: m.Header, Subject: subject, Body: strings.ReplaceAll(string(body), "\r\n", "\n")}
}
