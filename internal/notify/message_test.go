package notify

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// An agent names its own host: a hostile hostname must not add headers,
// and non-ASCII text must survive the encodings.
func TestMessageEncoding(t *testing.T) {
	n := Notification{Event: EventOpened, Alert: store.Alert{
		AgentID: "a1", Hostname: "pc\r\nBcc: victim@example.com", Rule: "disk:/données", Severity: "critical",
		Message: "Espace disque épuisé", Value: 97.5, OpenedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}}
	subject, body := composeAlert(n, alertContext{Client: "Müller GmbH", Site: "Zürich", AgentURL: "https://rmm.example/agents/a1"})
	from, _ := mail.ParseAddress("Stéward <rmm@example.com>")
	raw, err := mailMessage{From: from, To: []string{"ops@example.com"}, Subject: subject, Body: body, Date: time.Now(), ID: "d1"}.bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	if got := m.Header.Get("Bcc"); got != "" {
		t.Errorf("hostname injected a Bcc header %q", got)
	}
	gotSubject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || gotSubject != subject {
		t.Errorf("subject decoded to %q, %v; want %q", gotSubject, err, subject)
	}
	if got := m.Header.Get("Message-ID"); got != "<d1@example.com>" {
		t.Errorf("Message-ID %q, want <d1@example.com>", got)
	}
	gotBody, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Client:    Müller GmbH", "Site:      Zürich", "Message:   Espace disque épuisé", "Value:     97.5",
		"Rule:      disk:/données", "Agent page: https://rmm.example/agents/a1"} {
		if !strings.Contains(string(gotBody), want) {
			t.Errorf("body lacks %q:\n%s", want, gotBody)
		}
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d bytes, over SMTP's limit", len(line))
		}
	}
}
