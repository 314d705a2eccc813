// Package enroll exchanges a site enrollment token and the host's facts for
// an agent ID and secret (POST /agent/v1/enroll).
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/steward-rmm/steward/internal/protocol"
)

// maxResponseBytes bounds what is read of the server's answer.
const maxResponseBytes = 64 << 10

// ServerError is an enrollment the server answered with an HTTP error, such
// as an expired token (401/403) or rate limiting (429). Message is the
// server's own explanation when it sent one.
type ServerError struct {
	StatusCode int
	Message    string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("server refused enrollment (HTTP %d %s): %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Retryable reports whether an error from Enroll means the server did not
// handle the enrollment: it could not be reached or did not answer in time,
// or it answered HTTP 5xx or 429. Another replica of the same server may
// succeed. Any other error (a refused token, a redirect, a malformed answer)
// would recur there.
func Retryable(err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests
	}
	var ue *unreachableError
	return errors.As(err, &ue)
}

// unreachableError is a request that got no HTTP answer: refused, reset,
// timed out, or failed DNS or TLS.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// redirectError is a redirect the enrollment refused to follow.
type redirectError struct{ to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("server redirected to %s; use that address with --server", e.to)
}

// Enroll posts req to serverURL's enrollment endpoint and returns the new
// credentials. serverURL must already be validated (config.ParseServerURL).
// Redirects are refused rather than followed: a redirected POST turns into a
// GET, and the user should fix the URL they gave instead.
func Enroll(ctx context.Context, client *http.Client, serverURL string, req protocol.EnrollRequest) (protocol.EnrollResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: %w", err)
	}
	if len(body) > protocol.MaxEnrollBodyBytes {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: request is %d bytes, limit %d", len(body), protocol.MaxEnrollBodyBytes)
	}
	endpoint := strings.TrimRight(serverURL, "/") + protocol.EnrollPath
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "application/json")

	c := *client
	c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		return &redirectError{to: r.URL.Redacted()}
	}
	resp, err := c.Do(httpReq)
	if err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			return protocol.EnrollResponse{}, fmt.Errorf("enroll: %w", err)
		}
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: %w", &unreachableError{err: err})
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: read response: %w", err)
	}

	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: %w", &ServerError{StatusCode: resp.StatusCode, Message: errorMessage(b)})
	}
	var out protocol.EnrollResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enroll: decode response: %w", err)
	}
	id, secret, ok := protocol.ParseCredential(protocol.FormatCredential(out.AgentID, out.AgentSecret))
	if !ok || id != out.AgentID || secret != out.AgentSecret {
		return protocol.EnrollResponse{}, errors.New("enroll: server returned a malformed agent id or secret")
	}
	return out, nil
}

// errorMessage extracts protocol.ErrorResponse.Error from an error body, or
// else shows the start of whatever came back (a proxy's HTML page, say),
// cleaned so it cannot mess up the terminal.
func errorMessage(b []byte) string {
	var er protocol.ErrorResponse
	msg := ""
	if json.Unmarshal(b, &er) == nil && er.Error != "" {
		msg = er.Error
	} else {
		msg = string(b)
	}
	msg = strings.Join(strings.FieldsFunc(msg, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if msg == "" {
		return "no error message"
	}
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return msg
}
