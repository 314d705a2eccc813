package manage

import (
	"context"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// MaxRecipients bounds an email channel's recipient list.
const MaxRecipients = 20

// ChannelInput describes a notification channel to create or change.
type ChannelInput struct {
	Name string
	// Kind is store.ChannelWebhook (the default) or store.ChannelEmail;
	// it cannot change once the channel exists.
	Kind string
	// URL and Secret are a webhook's. An empty secret is generated on
	// creation and kept on update.
	URL    string
	Secret string
	// Recipients are an email channel's addresses.
	Recipients  []string
	MinSeverity string // info, warning (default) or critical
	// Enabled is nil to enable a new channel or keep an existing one's state.
	Enabled *bool
}

// checkChannel validates in and applies it over old (the zero Channel for
// a new one).
func checkChannel(in ChannelInput, old store.Channel) (store.Channel, error) {
	c := old
	var err error
	if c.Name, err = checkName("name", in.Name); err != nil {
		return store.Channel{}, err
	}
	kind := in.Kind
	if kind == "" {
		kind = store.ChannelWebhook
		if old.Kind != "" {
			kind = old.Kind
		}
	}
	switch {
	case kind != store.ChannelWebhook && kind != store.ChannelEmail:
		return store.Channel{}, input.Errorf("kind", "must be webhook or email")
	case old.Kind != "" && kind != old.Kind:
		return store.Channel{}, input.Errorf("kind", "cannot change: create a new channel instead")
	}
	c.Kind = kind
	if kind == store.ChannelWebhook {
		u, err := url.Parse(strings.TrimSpace(in.URL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > 2000 {
			return store.Channel{}, input.Errorf("url", "must be an http:// or https:// URL")
		}
		c.URL = u.String()
		switch {
		case in.Secret == "" && c.Secret == "":
			c.Secret = auth.NewSecret("whsec_")
		case in.Secret == "":
		case len(in.Secret) < 16 || len(in.Secret) > 256:
			return store.Channel{}, input.Errorf("secret", "must be 16 to 256 characters, or empty to keep or generate one")
		default:
			c.Secret = in.Secret
		}
		if len(in.Recipients) > 0 {
			return store.Channel{}, input.Errorf("recipients", "are for email channels only")
		}
	} else {
		if in.URL != "" || in.Secret != "" {
			return store.Channel{}, input.Errorf("url", "is for webhook channels only")
		}
		if c.Recipients, err = checkRecipients(in.Recipients); err != nil {
			return store.Channel{}, err
		}
	}
	c.MinSeverity = in.MinSeverity
	if c.MinSeverity == "" {
		c.MinSeverity = string(policy.SeverityWarning)
	}
	if !policy.Severity(c.MinSeverity).Valid() {
		return store.Channel{}, input.Errorf("min_severity", "must be info, warning or critical")
	}
	switch {
	case in.Enabled != nil:
		c.Enabled = *in.Enabled
	case old.ID == "":
		c.Enabled = true
	}
	return c, nil
}

// checkRecipients parses email addresses, keeping the bare address of each
// (the envelope recipient).
func checkRecipients(in []string) ([]string, error) {
	var out []string
	for _, r := range in {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		a, err := mail.ParseAddress(r)
		if err != nil || len(a.Address) > 254 {
			return nil, input.Errorf("recipients", "%q is not an email address", r)
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, a.Address) }) {
			out = append(out, a.Address)
		}
	}
	switch {
	case len(out) == 0:
		return nil, input.Errorf("recipients", "at least one email address is required")
	case len(out) > MaxRecipients:
		return nil, input.Errorf("recipients", "must be at most %d addresses", MaxRecipients)
	}
	return out, nil
}

// channelDetail is a channel's audit detail, without its secret.
func channelDetail(c store.Channel) map[string]string {
	d := map[string]string{"name": c.Name, "kind": c.Kind, "min_severity": c.MinSeverity, "enabled": strconv.FormatBool(c.Enabled)}
	if c.Kind == store.ChannelEmail {
		d["recipients"] = strings.Join(c.Recipients, ", ")
	} else {
		d["url"] = MaskURL(c.URL)
	}
	return d
}

// MaskURL keeps a webhook URL's scheme and host and hides the rest: chat
// services put the credential in the path (Slack, Teams) or the query.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	masked := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		masked += "/…"
	}
	return masked
}

// ChannelFor returns c as p may see it: people who cannot manage
// notifications see its URL masked.
func ChannelFor(p access.Principal, c store.Channel) store.Channel {
	if !access.Can(p, access.ManageNotifications) {
		c.URL = MaskURL(c.URL)
	}
	return c
}

// CreateChannel adds a channel. For a webhook it also returns the secret,
// which is shown only here.
func (s *Service) CreateChannel(ctx context.Context, p access.Principal, in ChannelInput) (store.Channel, string, error) {
	if err := access.Require(p, access.ManageNotifications); err != nil {
		return store.Channel{}, "", err
	}
	c, err := checkChannel(in, store.Channel{})
	if err != nil {
		return store.Channel{}, "", err
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		c, err = tx.CreateChannel(ctx, c)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("channel.create", "channel", c.ID, channelDetail(c)))
	})
	return c, c.Secret, err
}

// UpdateChannel changes a channel's settings; its kind stays.
func (s *Service) UpdateChannel(ctx context.Context, p access.Principal, id string, in ChannelInput) (store.Channel, error) {
	if err := access.Require(p, access.ManageNotifications); err != nil {
		return store.Channel{}, err
	}
	old, err := s.db.Channel(ctx, id)
	if err != nil {
		return store.Channel{}, err
	}
	c, err := checkChannel(in, old)
	if err != nil {
		return store.Channel{}, err
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateChannel(ctx, c); err != nil {
			return err
		}
		d := channelDetail(c)
		if c.Secret != old.Secret {
			d["secret"] = "changed"
		}
		return tx.AddAudit(ctx, p.Audit("channel.update", "channel", c.ID, d))
	})
	return c, err
}

// DeleteChannel removes a channel and its delivery log. Policies that
// route to it skip it from then on.
func (s *Service) DeleteChannel(ctx context.Context, p access.Principal, id string) error {
	if err := access.Require(p, access.ManageNotifications); err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteChannel(ctx, id); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("channel.delete", "channel", id, nil))
	})
}
