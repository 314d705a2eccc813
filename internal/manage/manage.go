// Package manage performs the changes an operator makes to tenancy,
// enrollment and accounts. It validates input, checks permission and writes
// the audit entry in the same transaction as the change, so the dashboard,
// the JSON API and the console behave identically.
package manage

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
)

// Service applies changes to the database.
type Service struct {
	db  *store.DB
	now func() time.Time
	// notifier hears about policy changes; nil in tools that need no push.
	notifier PolicyNotifier
}

// New returns a Service over db.
func New(db *store.DB) *Service { return &Service{db: db, now: time.Now} }

// checkName validates a client or site name.
func checkName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", input.Errorf(field, "is required")
	case utf8.RuneCountInString(name) > 100:
		return "", input.Errorf(field, "must be at most 100 characters")
	case !utf8.ValidString(name):
		return "", input.Errorf(field, "must be valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", input.Errorf(field, "must not contain control characters")
		}
	}
	return name, nil
}

// CreateClient adds a client company.
func (s *Service) CreateClient(ctx context.Context, p access.Principal, name string) (store.Client, error) {
	if err := access.Require(p, access.ManageTenancy); err != nil {
		return store.Client{}, err
	}
	name, err := checkName("name", name)
	if err != nil {
		return store.Client{}, err
	}
	var c store.Client
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		c, err = tx.CreateClient(ctx, name)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("client.create", "client", c.ID, map[string]string{"name": name}))
	})
	return c, err
}

// CreateSite adds a site to a client.
func (s *Service) CreateSite(ctx context.Context, p access.Principal, clientID, name string) (store.Site, error) {
	if err := access.Require(p, access.ManageTenancy); err != nil {
		return store.Site{}, err
	}
	name, err := checkName("name", name)
	if err != nil {
		return store.Site{}, err
	}
	var site store.Site
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		site, err = tx.CreateSite(ctx, clientID, name)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("site.create", "site", site.ID,
			map[string]string{"name": name, "client_id": clientID, "client": site.ClientName}))
	})
	return site, err
}

// Enrollment token bounds.
const (
	MaxTokenLifetime = 365 * 24 * time.Hour
	MinTokenLifetime = time.Minute
	MaxTokenUses     = 100_000
)

// CreateEnrollmentToken makes a token for a site and returns it in clear,
// the only time it is ever visible.
func (s *Service) CreateEnrollmentToken(ctx context.Context, p access.Principal, siteID string, expiresIn time.Duration, maxUses int) (string, store.EnrollmentToken, error) {
	if err := access.Require(p, access.ManageEnroll); err != nil {
		return "", store.EnrollmentToken{}, err
	}
	if expiresIn < MinTokenLifetime || expiresIn > MaxTokenLifetime {
		return "", store.EnrollmentToken{}, input.Errorf("expires_in", "must be between 1 minute and 365 days (e.g. 90m, 24h or 7d)")
	}
	if maxUses < 0 || maxUses > MaxTokenUses {
		return "", store.EnrollmentToken{}, input.Errorf("max_uses", "must be between 0 (unlimited) and %d", MaxTokenUses)
	}
	secret := auth.NewSecret(auth.PrefixEnrollment)
	var tok store.EnrollmentToken
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		var err error
		tok, err = tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{
			SiteID: siteID, Prefix: secret[:len(auth.PrefixEnrollment)+6], CreatedBy: p.ActorName(),
			ExpiresAt: s.now().Add(expiresIn), MaxUses: maxUses,
		}, auth.HashSecret(secret))
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("enrollment_token.create", "site", siteID, map[string]string{
			"token_id": tok.ID, "prefix": tok.Prefix, "expires_at": tok.ExpiresAt.Format(time.RFC3339),
			"max_uses": fmt.Sprint(maxUses),
		}))
	})
	if err != nil {
		return "", store.EnrollmentToken{}, err
	}
	return secret, tok, nil
}

// RevokeEnrollmentToken stops a token from enrolling more agents.
func (s *Service) RevokeEnrollmentToken(ctx context.Context, p access.Principal, id string) (store.EnrollmentToken, error) {
	if err := access.Require(p, access.ManageEnroll); err != nil {
		return store.EnrollmentToken{}, err
	}
	tok, err := s.db.EnrollmentToken(ctx, id)
	if err != nil {
		return store.EnrollmentToken{}, err
	}
	if !tok.RevokedAt.IsZero() {
		return tok, nil
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.RevokeEnrollmentToken(ctx, id); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("enrollment_token.revoke", "site", tok.SiteID,
			map[string]string{"token_id": id, "prefix": tok.Prefix}))
	})
	if err != nil {
		return store.EnrollmentToken{}, err
	}
	return s.db.EnrollmentToken(ctx, id)
}

// CheckEmail validates an email address loosely: one @, no spaces.
func CheckEmail(email string) (string, error) {
	email = store.NormalizeEmail(email)
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(email, " \t\r\n<>\"") || len(email) > 254 {
		return "", input.Errorf("email", "must be a valid email address")
	}
	return email, nil
}

// CreateUser adds an account. An empty password is an error here; the
// console generates one before calling.
func (s *Service) CreateUser(ctx context.Context, p access.Principal, email, password string, role store.Role) (store.User, error) {
	if err := access.Require(p, access.ManageUsers); err != nil {
		return store.User{}, err
	}
	if p.Via != "console" && role == store.RoleOwner && p.User.Role != store.RoleOwner {
		return store.User{}, fmt.Errorf("%w: only an owner can create owners", access.ErrForbidden)
	}
	switch role {
	case store.RoleOwner, store.RoleAdmin, store.RoleTechnician, store.RoleReadonly:
	default:
		return store.User{}, input.Errorf("role", "must be owner, admin, technician or readonly")
	}
	email, hash, err := checkCredentials(email, password)
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		u, err = tx.CreateUser(ctx, email, hash, role)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("user.create", "user", u.ID, map[string]string{"email": email, "role": string(role)}))
	})
	return u, err
}

// checkCredentials validates a new account's email and password and hashes
// the password.
func checkCredentials(email, password string) (normalized, hash string, err error) {
	normalized, err = CheckEmail(email)
	if err != nil {
		return "", "", err
	}
	if err := auth.CheckPasswordPolicy(password); err != nil {
		return "", "", input.Errorf("password", "%s", err.Error())
	}
	hash, err = auth.HashPassword(password)
	if err != nil {
		return "", "", err
	}
	return normalized, hash, nil
}

// CreateFirstOwner creates the first account from the setup link. It fails
// with store.ErrConflict once any user exists.
func (s *Service) CreateFirstOwner(ctx context.Context, ip, email, password string) (store.User, error) {
	email, hash, err := checkCredentials(email, password)
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.CreateFirstUser(ctx, email, hash, store.RoleOwner)
		if err != nil {
			return err
		}
		p := access.Principal{User: u, Via: "setup", IP: ip}
		return tx.AddAudit(ctx, p.Audit("user.create", "user", u.ID, map[string]string{"email": email, "role": "owner"}))
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// CreateAPIToken makes an API token for a user and returns it in clear,
// once.
func (s *Service) CreateAPIToken(ctx context.Context, p access.Principal, userID, name string) (string, store.APIToken, error) {
	if p.Via != "console" && p.User.ID != userID {
		if err := access.Require(p, access.ManageUsers); err != nil {
			return "", store.APIToken{}, err
		}
	}
	u, err := s.db.UserByID(ctx, userID)
	if err != nil {
		return "", store.APIToken{}, err
	}
	// A token acts with its user's role, so minting one for an owner is
	// as good as creating an owner.
	if p.Via != "console" && u.Role == store.RoleOwner && p.User.Role != store.RoleOwner {
		return "", store.APIToken{}, fmt.Errorf("%w: only an owner can create tokens for an owner", access.ErrForbidden)
	}
	name, err = checkName("name", name)
	if err != nil {
		return "", store.APIToken{}, err
	}
	secret := auth.NewSecret(auth.PrefixAPIToken)
	var t store.APIToken
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		var err error
		t, err = tx.CreateAPIToken(ctx, userID, name, auth.HashSecret(secret))
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("api_token.create", "user", userID, map[string]string{"token_id": t.ID, "name": name}))
	})
	if err != nil {
		return "", store.APIToken{}, err
	}
	return secret, t, nil
}
