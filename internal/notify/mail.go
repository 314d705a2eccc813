package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// ErrSMTPNotConfigured is the outcome of an email delivery while the
// server has no mail relay settings.
var ErrSMTPNotConfigured = errors.New("SMTP is not configured: set the mail relay in Settings → Email (SMTP)")

// defaultHELO is the greeting name when the settings give none.
const defaultHELO = "localhost"

// smtpReplyCode returns the relay's reply code in err, or 0.
func smtpReplyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// sendMail delivers one message through the relay in cfg: implicit TLS or
// STARTTLS with the relay's certificate verified for its host name, AUTH
// PLAIN only over TLS. It returns the relay's last reply code (250 when
// accepted) and, on failure, an error naming the step that failed with the
// relay's own text.
func (s *Service) sendMail(ctx context.Context, cfg store.SMTPSettings, from string, to []string, msg []byte) (code int, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.mailTimeout)
	defer cancel()
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	tlsCfg := &tls.Config{ServerName: cfg.Host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{}
	var conn net.Conn
	if cfg.Security == store.SMTPTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", addr, err)
	}
	// net/smtp takes no context: the deadline bounds every read and
	// write, and a cancelled context ends them at once.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		conn.Close()
		return smtpReplyCode(err), fmt.Errorf("greeting from %s: %w", addr, err)
	}
	defer c.Close()
	step := func(what string, err error) (int, error) {
		return smtpReplyCode(err), fmt.Errorf("%s: %w", what, err)
	}
	helo := cfg.HELO
	if helo == "" {
		helo = defaultHELO
	}
	if err := c.Hello(helo); err != nil {
		return step("EHLO", err)
	}
	if cfg.Security == store.SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return 0, fmt.Errorf("relay %s does not offer STARTTLS", addr)
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return step("STARTTLS", err)
		}
	}
	if cfg.Username != "" {
		// Settings refuse a username without TLS; checked again here so
		// a password never crosses the network in clear.
		if cfg.Security == store.SMTPNone {
			return 0, errors.New("refusing SMTP AUTH without TLS")
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return 0, fmt.Errorf("relay %s does not offer AUTH", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, cfg.Host)); err != nil {
			return step("AUTH", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return step("MAIL FROM", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return step("RCPT TO <"+rcpt+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return step("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return step("send message", err)
	}
	if err := w.Close(); err != nil {
		return step("message", err)
	}
	// The relay has taken the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return 250, nil
}

// mailMessage is one email ready to send.
type mailMessage struct {
	From    *mail.Address
	To      []string
	Subject string
	Body    string
	Date    time.Time
	// ID is unique per delivery, so a retry carries the same Message-ID
	// and receivers can drop duplicates.
	ID string
}

// bytes renders the message: headers in the style of net/mail, the subject
// Q-encoded when not plain ASCII, and a UTF-8 text body in
// quoted-printable.
func (m mailMessage) bytes() ([]byte, error) {
	to := make([]string, len(m.To))
	for i, a := range m.To {
		to[i] = (&mail.Address{Address: a}).String()
	}
	domain := m.From.Address[strings.LastIndex(m.From.Address, "@")+1:]
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", m.From.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", m.Date.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+m.ID+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	// Tell autoresponders not to answer.
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n"))); err != nil {
		return nil, fmt.Errorf("encode message body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode message body: %w", err)
	}
	return b.Bytes(), nil
}

// alertContext is what an alert email names besides the alert itself.
type alertContext struct {
	Client, Site string
	// AgentURL is the agent's dashboard page, or "".
	AgentURL string
}

// composeAlert writes the subject and body of an alert notification.
func composeAlert(n Notification, ac alertContext) (subject, body string) {
	a := n.Alert
	state := "resolved"
	if n.Event == EventOpened {
		state = "opened"
	}
	subject = fmt.Sprintf("[%s] Alert %s: %s on %s", strings.ToUpper(a.Severity), state, a.Rule, a.Hostname)
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k+":", v)
		}
	}
	fmt.Fprintf(&b, "A %s alert %s on %s.\n\n", a.Severity, state, a.Hostname)
	line("State", state)
	line("Severity", a.Severity)
	line("Rule", a.Rule)
	line("Message", a.Message)
	line("Value", strconv.FormatFloat(a.Value, 'g', 6, 64))
	if a.ResolvedValue != nil {
		line("Now", strconv.FormatFloat(*a.ResolvedValue, 'g', 6, 64))
	}
	line("Agent", a.Hostname)
	line("Client", ac.Client)
	line("Site", ac.Site)
	line("Opened", a.OpenedAt.UTC().Format(time.RFC1123))
	if !a.ResolvedAt.IsZero() {
		line("Resolved", a.ResolvedAt.UTC().Format(time.RFC1123))
	}
	if ac.AgentURL != "" {
		fmt.Fprintf(&b, "\nAgent page: %s\n", ac.AgentURL)
	}
	b.WriteString("\n-- \nSent by Steward.\n")
	return subject, b.String()
}

// composeTest writes the subject and body of a test notification.
func composeTest(channel, publicURL string) (subject, body string) {
	where := "the SMTP settings"
	if channel != "" {
		where = fmt.Sprintf("notification channel %q", channel)
	}
	body = fmt.Sprintf("This is a test notification from Steward, sent from %s.\n\nState:     test\n", where)
	if publicURL != "" {
		body += "\nDashboard: " + publicURL + "\n"
	}
	return "Steward test notification", body + "\n-- \nSent by Steward.\n"
}

// agentURL is the dashboard page of an agent, or "" without a public URL.
func (s *Service) agentURL(agentID string) string {
	if s.publicURL == "" || agentID == "" {
		return ""
	}
	return s.publicURL + "/agents/" + url.PathEscape(agentID)
}

// smtpSettings loads the relay settings, ErrSMTPNotConfigured when there
// are none.
func (s *Service) smtpSettings(ctx context.Context) (store.SMTPSettings, error) {
	cfg, err := s.db.SMTPSettings(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.SMTPSettings{}, ErrSMTPNotConfigured
	}
	return cfg, err
}

// deliverMail sends one delivery's notification to an email channel's
// recipients.
func (s *Service) deliverMail(ctx context.Context, cfg store.SMTPSettings, c store.Channel, deliveryID string, payload []byte) (int, error) {
	var n Notification
	if err := json.Unmarshal(payload, &n); err != nil {
		return 0, fmt.Errorf("decode notification %s: %w", deliveryID, err)
	}
	var subject, body string
	if n.Event == EventTest {
		subject, body = composeTest(c.Name, s.publicURL)
	} else {
		ac := alertContext{AgentURL: s.agentURL(n.Alert.AgentID)}
		// Names make the mail readable; without them it still goes out.
		if ag, err := s.db.Agent(ctx, n.Alert.AgentID); err == nil {
			ac.Client, ac.Site = ag.ClientName, ag.SiteName
		}
		subject, body = composeAlert(n, ac)
	}
	return s.mail(ctx, cfg, c.Recipients, deliveryID, n.Time, subject, body)
}

// mail builds and sends one message.
func (s *Service) mail(ctx context.Context, cfg store.SMTPSettings, to []string, id string, date time.Time, subject, body string) (int, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return 0, fmt.Errorf("sender address %q: %w", cfg.From, err)
	}
	if len(to) == 0 {
		return 0, errors.New("the channel has no recipients")
	}
	msg, err := mailMessage{From: from, To: to, Subject: subject, Body: body, Date: date, ID: id}.bytes()
	if err != nil {
		return 0, err
	}
	return s.sendMail(ctx, cfg, from.Address, to, msg)
}

// SendTestMail sends a test message to one address through the stored
// relay settings, at once, and returns the relay's error if it fails.
func (s *Service) SendTestMail(ctx context.Context, to string) error {
	addr, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", to, err)
	}
	cfg, err := s.smtpSettings(ctx)
	if err != nil {
		return err
	}
	subject, body := composeTest("", s.publicURL)
	_, err = s.mail(ctx, cfg, []string{addr.Address}, store.NewID(), time.Now(), subject, body)
	return err
}
