package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrTooLarge reports a message over MaxMessageBytes.
var ErrTooLarge = errors.New("message too large")

// Limits on untrusted fields. Facts come from the agent and end up in the
// dashboard and the database, so every string and list is bounded.
const (
	maxTypeLen  = 64
	maxIDLen    = 128
	maxTokenLen = 256
	// MaxFieldLen bounds each text fact in bytes.
	MaxFieldLen = 256
	// MaxIPs bounds Facts.IPAddresses.
	MaxIPs = 64
	// MaxUsers bounds Facts.Users.
	MaxUsers = 64
	// MaxTrays bounds Facts.Trays.
	MaxTrays = 64
)

// DecodeEnvelope parses one control-channel message. It rejects messages
// over MaxMessageBytes, invalid JSON, trailing data, and malformed type or
// id fields. It does not know which types exist: the caller answers unknown
// types with CodeUnknownType.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var env Envelope
	if len(b) > MaxMessageBytes {
		return env, ErrTooLarge
	}
	if err := strictUnmarshal(b, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if env.Type == "" {
		return Envelope{}, errors.New("decode envelope: missing type")
	}
	if err := checkToken("type", env.Type, maxTypeLen); err != nil {
		return Envelope{}, err
	}
	if env.ID != "" {
		if err := checkToken("id", env.ID, maxIDLen); err != nil {
			return Envelope{}, err
		}
	}
	return env, nil
}

// DecodeFacts parses and validates the payload of hello and facts messages.
func DecodeFacts(data json.RawMessage) (Facts, error) {
	var f Facts
	if len(data) == 0 {
		return f, errors.New("decode facts: missing data")
	}
	if err := strictUnmarshal(data, &f); err != nil {
		return Facts{}, fmt.Errorf("decode facts: %w", err)
	}
	if err := f.Validate(); err != nil {
		return Facts{}, fmt.Errorf("decode facts: %w", err)
	}
	if len(f.Trays) == 0 {
		f.Trays = nil // "trays":[] and no trays are the same facts
	}
	return f, nil
}

// DecodeHeartbeat parses a heartbeat payload. An empty payload is allowed.
func DecodeHeartbeat(data json.RawMessage) (Heartbeat, error) {
	var h Heartbeat
	if len(data) == 0 {
		return h, nil
	}
	if err := strictUnmarshal(data, &h); err != nil {
		return Heartbeat{}, fmt.Errorf("decode heartbeat: %w", err)
	}
	return h, nil
}

// DecodeWelcome parses the server's welcome. It is lenient (unknown fields,
// no strictness on trailing data) on purpose: the agent trusts its server,
// and newer servers may add fields.
func DecodeWelcome(data json.RawMessage) (Welcome, error) {
	var w Welcome
	if err := json.Unmarshal(data, &w); err != nil {
		return Welcome{}, fmt.Errorf("decode welcome: %w", err)
	}
	if w.AgentID == "" {
		return Welcome{}, errors.New("decode welcome: missing agent_id")
	}
	return w, nil
}

// DecodeError parses an error payload.
func DecodeError(data json.RawMessage) (Error, error) {
	var e Error
	if err := json.Unmarshal(data, &e); err != nil {
		return Error{}, fmt.Errorf("decode error: %w", err)
	}
	return e, nil
}

// DecodeEnrollRequest parses and validates an enrollment request body.
func DecodeEnrollRequest(b []byte) (EnrollRequest, error) {
	var r EnrollRequest
	if len(b) > MaxEnrollBodyBytes {
		return r, ErrTooLarge
	}
	if err := strictUnmarshal(b, &r); err != nil {
		return EnrollRequest{}, fmt.Errorf("decode enroll request: %w", err)
	}
	if r.Token == "" {
		return EnrollRequest{}, errors.New("missing token")
	}
	if err := checkToken("token", r.Token, maxTokenLen); err != nil {
		return EnrollRequest{}, err
	}
	if err := r.Facts.Validate(); err != nil {
		return EnrollRequest{}, err
	}
	return r, nil
}

// Validate checks that facts are within the protocol's bounds.
func (f Facts) Validate() error {
	if strings.TrimSpace(f.Hostname) == "" {
		return errors.New("facts: hostname is required")
	}
	fields := []struct{ name, value string }{
		{"hostname", f.Hostname}, {"os", f.OS}, {"os_name", f.OSName},
		{"os_version", f.OSVersion}, {"arch", f.Arch}, {"kernel", f.Kernel},
		{"agent_version", f.AgentVersion},
	}
	for _, fl := range fields {
		if err := checkText(fl.name, fl.value); err != nil {
			return err
		}
	}
	if f.Update != nil {
		if err := f.Update.Validate(); err != nil {
			return fmt.Errorf("facts: %w", err)
		}
	}
	if f.PowerPending != nil {
		if err := f.PowerPending.Validate(); err != nil {
			return fmt.Errorf("facts: power_pending: %w", err)
		}
	}
	if len(f.IPAddresses) > MaxIPs {
		return fmt.Errorf("facts: %d ip_addresses, limit %d", len(f.IPAddresses), MaxIPs)
	}
	for _, ip := range f.IPAddresses {
		// ParseAddr accepts any zone after '%', so bound and clean it first.
		if err := checkText("ip_addresses", ip); err != nil {
			return err
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("facts: ip_addresses: %q is not an IP address", truncate(ip))
		}
	}
	if len(f.Users) > MaxUsers {
		return fmt.Errorf("facts: %d users, limit %d", len(f.Users), MaxUsers)
	}
	for _, u := range f.Users {
		if err := checkText("users", u); err != nil {
			return err
		}
	}
	if len(f.Trays) > MaxTrays {
		return fmt.Errorf("facts: %d trays, limit %d", len(f.Trays), MaxTrays)
	}
	for _, tr := range f.Trays {
		if err := tr.Validate(); err != nil {
			return err
		}
	}
	if !f.BootTime.IsZero() && f.BootTime.After(time.Now().Add(24*time.Hour)) {
		return errors.New("facts: boot_time is in the future")
	}
	return nil
}

// Validate checks one tray's fields: a user and a version are required,
// every field is bounded text.
func (t TrayInfo) Validate() error {
	if strings.TrimSpace(t.User) == "" || strings.TrimSpace(t.Version) == "" {
		return errors.New("facts: trays: user and version are required")
	}
	for _, fl := range []struct{ name, value string }{{"trays.user", t.User}, {"trays.session", t.Session}, {"trays.version", t.Version}} {
		if err := checkText(fl.name, fl.value); err != nil {
			return err
		}
	}
	return nil
}

func checkText(name, v string) error {
	if len(v) > MaxFieldLen {
		return fmt.Errorf("facts: %s is %d bytes, limit %d", name, len(v), MaxFieldLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("facts: %s is not valid UTF-8", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) { // C0, DEL and C1
			return fmt.Errorf("facts: %s contains control characters", name)
		}
	}
	return nil
}

// checkToken accepts short printable ASCII without spaces.
func checkToken(name, v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%s is %d bytes, limit %d", name, len(v), limit)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c >= 0x7f {
			return fmt.Errorf("%s contains invalid characters", name)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// strictUnmarshal decodes exactly one JSON value and refuses trailing data,
// so a message cannot smuggle a second document.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More would miss a trailing ']' or '}'; only EOF means nothing follows.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
