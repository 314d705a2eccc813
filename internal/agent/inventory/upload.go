package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

const (
	// maxErrorBody bounds what is read of an error answer.
	maxErrorBody = 4 << 10
	// attemptTimeout bounds one attempt, against a server or proxy that
	// accepts the connection and never answers; the agent's HTTP client
	// has no timeout of its own (it also carries the WebSocket).
	attemptTimeout = 2 * time.Minute
	// maxRetryAfter bounds the wait a server's Retry-After can impose.
	maxRetryAfter = 6 * time.Hour
)

// StatusError is an upload the server answered with an HTTP error status.
// Message is the server's own explanation (protocol.ErrorResponse) when it
// sent one.
type StatusError struct {
	StatusCode int
	Message    string
	// RetryAfter is the server's Retry-After (on 429 and 503), zero when
	// it sent none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("server answered HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// retryable reports whether an upload that failed with err may succeed if
// tried again: the server was unreachable, failed (5xx), or asked the agent
// to slow down (429, 408). Any other answer would be the same next time.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests || se.StatusCode == http.StatusRequestTimeout
	}
	var pe *permanentError
	return !errors.As(err, &pe)
}

// permanentError is a failure that trying again cannot fix: a malformed
// server URL, or a redirect (a redirected POST would lose its body, and the
// agent's server URL is what should change).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Uploader posts inventory reports to the server.
type Uploader struct {
	// Client sends the request; nil means http.DefaultClient. The agent
	// passes the client its control connection uses (same TLS settings).
	Client *http.Client
	// Auth is the Authorization header value, protocol.FormatCredential.
	Auth string
	// Backoff spaces retries; its state is reset for every Upload.
	Backoff backoff.Backoff
	Log     *slog.Logger
}

// Upload posts body (protocol.EncodeInventory output) to the server whose
// base URL server returns, asked again before every attempt so a retry
// follows the control connection to another replica. It retries with
// backoff after network errors and retryable answers until ctx ends (no
// sooner than a Retry-After the server sent), and
// gives up at once on any other answer (a 4xx: a *StatusError naming the
// status and the server's message).
func (u Uploader) Upload(ctx context.Context, server func() string, body []byte) error {
	bo := u.Backoff
	bo.Reset()
	for {
		base := server()
		err := u.send(ctx, base, body)
		if err == nil {
			return nil
		}
		if !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("upload inventory: %w (last attempt: %v)", ctx.Err(), err)
		}
		delay := bo.Next()
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > delay {
			delay = min(se.RetryAfter, maxRetryAfter)
		}
		u.Log.WarnContext(ctx, "inventory upload failed; retrying", "server", base, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("upload inventory: %w (last attempt: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// send makes one attempt.
func (u Uploader) send(ctx context.Context, base string, body []byte) error {
	if base == "" {
		return errors.New("upload inventory: not connected to a server yet")
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	endpoint := strings.TrimRight(base, "/") + protocol.InventoryPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return &permanentError{fmt.Errorf("upload inventory: %w", err)}
	}
	req.Header.Set("Authorization", u.Auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")

	c := http.DefaultClient
	if u.Client != nil {
		c = u.Client
	}
	client := *c
	client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		return &permanentError{fmt.Errorf("server redirected the upload to %s", r.URL.Redacted())}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("upload inventory to %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) // lets the connection be reused
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return fmt.Errorf("upload inventory to %s: %w", base, &StatusError{StatusCode: resp.StatusCode, Message: errorMessage(b),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())})
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. It is
// at most maxRetryAfter, so a huge number of seconds cannot overflow.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return time.Duration(min(max(secs, 0), int(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// errorMessage is protocol.ErrorResponse.Error from an error body, cleaned
// for a log line; empty when the body is something else (a proxy's page).
func errorMessage(b []byte) string {
	var er protocol.ErrorResponse
	if json.Unmarshal(b, &er) != nil {
		return ""
	}
	msg := strings.Join(strings.FieldsFunc(er.Error, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return msg
}
