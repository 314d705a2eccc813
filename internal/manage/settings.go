package manage

import (
	"context"
	"net"
	"net/mail"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
)

// SMTPInput is what an operator sends to change the mail relay settings.
type SMTPInput struct {
	Host string
	// Port is 0 for the usual port of Security: 587, 465 or 25.
	Port     int
	Security string // starttls (default), tls or none
	// Username is empty for a relay without authentication; the password
	// is then dropped.
	Username string
	// Password is empty to keep the stored one, which is only allowed
	// while Host stays the same.
	Password string
	From     string
	HELO     string
}

var defaultSMTPPorts = map[string]int{store.SMTPStartTLS: 587, store.SMTPTLS: 465, store.SMTPNone: 25}

// checkHostname accepts a DNS name or an IP address.
func checkHostname(field, h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 || strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" ||
		strings.HasPrefix(h, ".") || strings.HasPrefix(h, "-") || strings.Contains(h, "..") {
		return input.Errorf(field, "must be a host name or an IP address")
	}
	return nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSMTP validates in and returns the settings to store, without the
// password.
func checkSMTP(in SMTPInput) (store.SMTPSettings, error) {
	out := store.SMTPSettings{
		Host: strings.TrimSpace(in.Host), Port: in.Port, Security: in.Security,
		Username: strings.TrimSpace(in.Username), HELO: strings.TrimSpace(in.HELO),
	}
	if out.Host == "" {
		return store.SMTPSettings{}, input.Errorf("host", "is required")
	}
	if err := checkHostname("host", out.Host); err != nil {
		return store.SMTPSettings{}, err
	}
	if out.Security == "" {
		out.Security = store.SMTPStartTLS
	}
	def, ok := defaultSMTPPorts[out.Security]
	switch {
	case !ok:
		return store.SMTPSettings{}, input.Errorf("security", "must be starttls, tls or none")
	case out.Security == store.SMTPNone && !isLoopback(out.Host):
		return store.SMTPSettings{}, input.Errorf("security", "none sends mail unencrypted and is only allowed for a relay on this host (localhost); use starttls or tls")
	}
	if out.Port == 0 {
		out.Port = def
	}
	if out.Port < 1 || out.Port > 65535 {
		return store.SMTPSettings{}, input.Errorf("port", "must be between 1 and 65535")
	}
	switch {
	case len(out.Username) > 256 || strings.ContainsFunc(out.Username, isControl):
		return store.SMTPSettings{}, input.Errorf("username", "must be at most 256 characters, without control characters")
	case out.Username != "" && out.Security == store.SMTPNone:
		return store.SMTPSettings{}, input.Errorf("username", "authentication needs starttls or tls, so the password is never sent in clear")
	case len(in.Password) > 1024 || strings.ContainsFunc(in.Password, isControl):
		return store.SMTPSettings{}, input.Errorf("password", "must be at most 1024 characters, without control characters")
	}
	from, err := mail.ParseAddress(strings.TrimSpace(in.From))
	if err != nil || len(in.From) > 320 {
		return store.SMTPSettings{}, input.Errorf("from", "must be an email address, e.g. Steward <rmm@example.com>")
	}
	out.From = from.String()
	if out.HELO != "" {
		if err := checkHostname("helo", out.HELO); err != nil {
			return store.SMTPSettings{}, err
		}
	}
	return out, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// SaveSMTP validates and stores the mail relay settings. The audit entry
// names every field but the password, of which it says only whether it
// changed.
func (s *Service) SaveSMTP(ctx context.Context, p access.Principal, in SMTPInput) (store.SMTPSettings, error) {
	if err := access.Require(p, access.ManageSettings); err != nil {
		return store.SMTPSettings{}, err
	}
	cfg, err := checkSMTP(in)
	if err != nil {
		return store.SMTPSettings{}, err
	}
	cfg.UpdatedBy = p.ActorName()
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		oldHost, old, err := tx.SMTPCredentials(ctx)
		if err != nil {
			return err
		}
		pw := "unchanged"
		switch {
		case cfg.Username == "":
			cfg.Password = ""
			if old != "" {
				pw = "removed"
			}
		case in.Password == "":
			cfg.Password = old
			if old == "" {
				return input.Errorf("password", "is required with a username")
			}
			// The stored password goes only to the relay it was entered
			// for: a new host could be anyone's.
			if !strings.EqualFold(cfg.Host, oldHost) {
				return input.Errorf("password", "is required again when the host changes")
			}
		default:
			cfg.Password = in.Password
			if in.Password != old {
				pw = "changed"
			}
		}
		if cfg, err = tx.SaveSMTPSettings(ctx, cfg); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("settings.smtp.update", "settings", "smtp", map[string]string{
			"host": cfg.Host, "port": strconv.Itoa(cfg.Port), "security": cfg.Security, "username": cfg.Username,
			"from": cfg.From, "helo": cfg.HELO, "password": pw,
		}))
	})
	if err != nil {
		return store.SMTPSettings{}, err
	}
	return cfg, nil
}
