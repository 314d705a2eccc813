package manage

import (
	"context"
	"net/url"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/store"
)

// ChannelInput describes a webhook channel.
type ChannelInput struct {
	Name        string
	URL         string
	Secret      string // empty: generated
	MinSeverity string // info, warning (default) or critical
}

// CreateChannel adds a webhook channel and returns it with its secret,
// which is shown only here.
func (s *Service) CreateChannel(ctx context.Context, p access.Principal, in ChannelInput) (store.Channel, string, error) {
	if err := require(p, access.ManageNotifications); err != nil {
		return store.Channel{}, "", err
	}
	name, err := checkName("name", in.Name)
	if err != nil {
		return store.Channel{}, "", err
	}
	u, err := url.Parse(strings.TrimSpace(in.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > 2000 {
		return store.Channel{}, "", invalid("url", "must be an http:// or https:// URL")
	}
	secret := in.Secret
	switch {
	case secret == "":
		secret = auth.NewSecret("whsec_")
	case len(secret) < 16 || len(secret) > 256:
		return store.Channel{}, "", invalid("secret", "must be 16 to 256 characters, or empty to generate one")
	}
	sev := in.MinSeverity
	if sev == "" {
		sev = "warning"
	}
	switch sev {
	case "info", "warning", "critical":
	default:
		return store.Channel{}, "", invalid("min_severity", "must be info, warning or critical")
	}
	var c store.Channel
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		c, err = tx.CreateChannel(ctx, store.Channel{Name: name, Kind: "webhook", URL: u.String(), Secret: secret, MinSeverity: sev, Enabled: true})
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("channel.create", "channel", c.ID, map[string]string{"name": name, "url": u.Redacted(), "min_severity": sev}))
	})
	return c, secret, err
}

// DeleteChannel removes a channel and its delivery log.
func (s *Service) DeleteChannel(ctx context.Context, p access.Principal, id string) error {
	if err := require(p, access.ManageNotifications); err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteChannel(ctx, id); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("channel.delete", "channel", id, nil))
	})
}
