// Package notify delivers alert notifications to webhooks and by email.
// An alert transition becomes one queued delivery per channel its policy
// routes it to, in the database; a singleton job sends due deliveries
// (webhook bodies signed with HMAC-SHA256, email through the server's SMTP
// relay), retries failures with exponential backoff and records every
// attempt, so a slow or broken receiver never holds up alerting and a
// server restart loses nothing.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// Headers of a webhook request.
const (
	HeaderEvent     = "X-Steward-Event"
	HeaderDelivery  = "X-Steward-Delivery"
	HeaderTimestamp = "X-Steward-Timestamp"
	// HeaderSignature is "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Steward-Signature"
)

// Retry policy.
const (
	MaxAttempts  = 8
	firstBackoff = 10 * time.Second
	maxBackoff   = time.Hour
)

// Events of a notification.
const (
	EventOpened   = "alert.opened"
	EventResolved = "alert.resolved"
	EventTest     = "test"
)

var severityRank = map[string]int{"info": 0, "warning": 1, "critical": 2}

// Options are a Service's optional settings.
type Options struct {
	// PublicURL is the dashboard's base URL, for the agent link in email;
	// empty for none.
	PublicURL string
	// RootCAs verifies SMTP relays' certificates; nil for the system pool.
	RootCAs *x509.CertPool
	// MailTimeout bounds one SMTP conversation; 0 for 30 seconds.
	MailTimeout time.Duration
}

// Service queues and sends notifications.
type Service struct {
	db          *store.DB
	log         *slog.Logger
	client      *http.Client
	publicURL   string
	rootCAs     *x509.CertPool
	mailTimeout time.Duration
}

// New returns a Service.
func New(db *store.DB, log *slog.Logger, opts Options) *Service {
	if opts.MailTimeout <= 0 {
		opts.MailTimeout = 30 * time.Second
	}
	return &Service{
		db: db, log: log, client: &http.Client{Timeout: 10 * time.Second},
		publicURL: strings.TrimRight(opts.PublicURL, "/"), rootCAs: opts.RootCAs, mailTimeout: opts.MailTimeout,
	}
}

// Sign computes the signature header value for a body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Notification is the JSON body of a webhook request.
type Notification struct {
	Event string      `json:"event"` // alert.opened, alert.resolved, test
	Alert store.Alert `json:"alert,omitzero"`
	Time  time.Time   `json:"time"`
}

// AlertChanged queues the notification of an alert transition for the
// channels route names: the value of the agent's notifications.<severity>
// policy field, ["all"] for every channel, [] for none. Either way only
// enabled channels whose minimum severity the alert reaches get it. A
// routed channel that no longer exists is skipped and logged. Failures are
// logged: notifications must never block alert processing.
func (s *Service) AlertChanged(ctx context.Context, a store.Alert, opened bool, route []string) {
	if len(route) == 0 {
		return
	}
	event := EventResolved
	if opened {
		event = EventOpened
	}
	body, err := json.Marshal(Notification{Event: event, Alert: a, Time: time.Now().UTC()})
	if err != nil {
		s.log.Error("encode notification", "err", err)
		return
	}
	channels, err := s.db.ListChannels(ctx)
	if err != nil {
		s.log.Error("load notification channels", "err", err)
		return
	}
	all := slices.Contains(route, policy.AllChannels)
	if !all {
		for _, id := range route {
			if !slices.ContainsFunc(channels, func(c store.Channel) bool { return strings.EqualFold(c.ID, id) }) {
				s.log.Warn("policy routes an alert to a deleted notification channel; skipped",
					"channel_id", id, "alert_id", a.ID, "agent_id", a.AgentID, "severity", a.Severity)
			}
		}
	}
	for _, c := range channels {
		routed := all || slices.ContainsFunc(route, func(id string) bool { return strings.EqualFold(c.ID, id) })
		if !routed || !c.Enabled || severityRank[a.Severity] < severityRank[c.MinSeverity] {
			continue
		}
		if _, err := s.db.QueueDelivery(ctx, c.ID, event, string(body), time.Now()); err != nil {
			s.log.Error("queue notification", "channel", c.Name, "err", err)
		}
	}
}

// Deliver sends due deliveries. It is a singleton job.
func (s *Service) Deliver(ctx context.Context) error {
	due, err := s.db.DueDeliveries(ctx, 200)
	if err != nil {
		return err
	}
	channels := map[string]store.Channel{}
	for _, d := range due {
		c, ok := channels[d.ChannelID]
		if !ok {
			if c, err = s.db.Channel(ctx, d.ChannelID); err != nil {
				s.log.Error("load notification channel", "channel_id", d.ChannelID, "err", err)
				continue
			}
			channels[d.ChannelID] = c
		}
		status, sendErr := s.dispatch(ctx, c, d.ID, d.Event, []byte(d.Payload))
		state, next, errText := "sent", time.Now(), ""
		if sendErr != nil {
			errText = sendErr.Error()
			state = "pending"
			backoff := min(firstBackoff<<d.Attempts, maxBackoff)
			next = time.Now().Add(backoff)
			if d.Attempts+1 >= MaxAttempts {
				state = "failed"
			}
			s.log.Warn("notification delivery failed", "channel", c.Name, "delivery", d.ID, "attempt", d.Attempts+1, "err", sendErr)
		}
		if err := s.db.RecordAttempt(ctx, d.ID, state, status, errText, next); err != nil {
			return err
		}
	}
	return nil
}

// Test sends a test notification to a channel at once and reports the
// receiver's answer (an HTTP status, or an SMTP reply code for email); the
// attempt is in the delivery log too.
func (s *Service) Test(ctx context.Context, channelID string) (int, error) {
	c, err := s.db.Channel(ctx, channelID)
	if err != nil {
		return 0, err
	}
	body, _ := json.Marshal(Notification{Event: EventTest, Time: time.Now().UTC()})
	// Logged as a delivery, but not due: the job must not send it too.
	id, err := s.db.QueueDelivery(ctx, c.ID, EventTest, string(body), time.Now().Add(24*time.Hour))
	if err != nil {
		return 0, err
	}
	status, sendErr := s.dispatch(ctx, c, id, EventTest, body)
	state, errText := "sent", ""
	if sendErr != nil {
		state, errText = "failed", sendErr.Error()
	}
	if err := s.db.RecordAttempt(ctx, id, state, status, errText, time.Now()); err != nil {
		return status, err
	}
	return status, sendErr
}

// dispatch sends one delivery by the channel's kind. Email reads the relay
// settings each time, so a change applies to the next attempt.
func (s *Service) dispatch(ctx context.Context, c store.Channel, deliveryID, event string, payload []byte) (int, error) {
	if c.Kind != store.ChannelEmail {
		return s.send(ctx, c, deliveryID, event, payload)
	}
	cfg, err := s.smtpSettings(ctx)
	if err != nil {
		return 0, err
	}
	return s.deliverMail(ctx, cfg, c, deliveryID, payload)
}

// send POSTs one signed notification.
func (s *Service) send(ctx context.Context, c store.Channel, deliveryID, event string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Steward-Webhook/1")
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderDelivery, deliveryID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(c.Secret, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
