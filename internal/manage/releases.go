package manage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Release channels every server knows; others can be named when a release
// is published.
const (
	ChannelStable = "stable"
	ChannelBeta   = "beta"
)

// maxReleaseNotes bounds a release's notes, in characters.
const maxReleaseNotes = 4000

// ErrNoReleaseKeys refuses every release on a server that trusts no
// release key: nothing could be checked.
var ErrNoReleaseKeys = errors.New("this server trusts no release key: start it with --release-key (see docs/updates.md)")

// CheckChannel validates a channel name: a lowercase letter, then up to 31
// lowercase letters, digits or dashes.
func CheckChannel(field, c string) error {
	ok := c != "" && len(c) <= 32 && c[0] >= 'a' && c[0] <= 'z'
	for i := 0; ok && i < len(c); i++ {
		ch := c[i]
		ok = ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-'
	}
	if !ok {
		return input.Errorf(field, "must be a channel name such as stable or beta (lowercase letters, digits and dashes, at most 32)")
	}
	return nil
}

// PublishRelease checks a signed release against the trusted keys, reads
// its file (which must match the signed size and SHA-256) into the
// database and audits it, all or nothing.
func (s *Service) PublishRelease(ctx context.Context, p access.Principal, keys []protocol.ReleaseKey,
	signed protocol.SignedRelease, channel, notes string, file io.Reader) (store.Release, error) {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return store.Release{}, err
	}
	if err := CheckChannel("channel", channel); err != nil {
		return store.Release{}, err
	}
	notes = strings.TrimSpace(notes)
	if !utf8.ValidString(notes) || utf8.RuneCountInString(notes) > maxReleaseNotes {
		return store.Release{}, input.Errorf("notes", "must be valid UTF-8 of at most %d characters", maxReleaseNotes)
	}
	if len(keys) == 0 {
		return store.Release{}, ErrNoReleaseKeys
	}
	keys, err := s.TrustedReleaseKeys(ctx, keys)
	if err != nil {
		return store.Release{}, err
	}
	if err := protocol.VerifyRelease(keys, signed); err != nil {
		return store.Release{}, input.Errorf("signature", "%v", err)
	}
	st := signed.Statement
	var rel store.Release
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		h := sha256.New()
		// One byte more than signed, so that a longer file is caught.
		body := io.TeeReader(io.LimitReader(file, st.Size+1), h)
		var err error
		rel, err = tx.CreateRelease(ctx, store.Release{
			Version: st.Version, OS: st.OS, Arch: st.Arch, Channel: channel, Size: st.Size, SHA256: st.SHA256,
			KeyID: signed.KeyID, Signature: string(signed.Encode()), Notes: notes, CreatedBy: p.ActorName(),
		}, body)
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				return input.Errorf("version", "%s is already published for %s/%s", st.Version, st.OS, st.Arch)
			}
			if errors.Is(err, store.ErrSizeMismatch) {
				return input.Errorf("file", "is not the size the signature states (%d bytes)", st.Size)
			}
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != st.SHA256 {
			return input.Errorf("file", "SHA-256 %s differs from the signed %s: not the file that was signed", got, st.SHA256)
		}
		return tx.AddAudit(ctx, p.Audit("release.publish", "release", rel.ID, map[string]string{
			"version": st.Version, "os": st.OS, "arch": st.Arch, "channel": channel,
			"sha256": st.SHA256, "key_id": signed.KeyID, "size": fmt.Sprint(st.Size)}))
	})
	return rel, err
}

// SetUpdateChannel sets the release channel of a client, site or agent;
// nil makes it inherit from the level above again.
func (s *Service) SetUpdateChannel(ctx context.Context, p access.Principal, level, id string, channel *string) error {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return err
	}
	if level != store.LevelClient && level != store.LevelSite && level != store.LevelAgent {
		return input.Errorf("level", "must be client, site or agent")
	}
	ch := ""
	if channel != nil {
		ch = strings.TrimSpace(*channel)
		if err := CheckChannel("channel", ch); err != nil {
			return err
		}
	}
	return s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetUpdateChannel(ctx, level, id, ch); err != nil {
			return err
		}
		shown := ch
		if shown == "" {
			shown = "inherit"
		}
		return tx.AddAudit(ctx, p.Audit("update_channel.set", level, id, map[string]string{"channel": shown}))
	})
}

// SetReleaseStatus halts, resumes (active) or withdraws a release by hand.
// A withdrawn release is never offered or served again and cannot come
// back.
func (s *Service) SetReleaseStatus(ctx context.Context, p access.Principal, id, status string) (store.Release, error) {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return store.Release{}, err
	}
	switch status {
	case store.ReleaseActive, store.ReleaseHalted, store.ReleaseWithdrawn:
	default:
		return store.Release{}, input.Errorf("status", "must be active, halted or withdrawn")
	}
	var rel store.Release
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		cur, err := s.db.GetRelease(ctx, id)
		if err != nil {
			return err
		}
		if cur.Status == store.ReleaseWithdrawn && status != store.ReleaseWithdrawn {
			return input.Errorf("status", "release %s was withdrawn; publish a new version instead", cur.Version)
		}
		if cur.Status == status {
			rel = cur
			return nil
		}
		if err := tx.SetReleaseStatus(ctx, id, status); err != nil {
			return err
		}
		detail := map[string]string{"version": cur.Version, "os": cur.OS, "arch": cur.Arch}
		if status != store.ReleaseActive {
			// Offers not yet taken are called back: a halt stops the
			// agents already offered the release, not only the next batch.
			n, err := tx.CancelOffers(ctx, id, fmt.Sprintf("called back: release %s was %s by %s", cur.Version, status, p.ActorName()))
			if err != nil {
				return err
			}
			detail["offers_cancelled"] = fmt.Sprint(n)
		}
		cur.Status = status
		rel = cur
		action := map[string]string{store.ReleaseActive: "release.resume", store.ReleaseHalted: "release.halt", store.ReleaseWithdrawn: "release.withdraw"}[status]
		return tx.AddAudit(ctx, p.Audit(action, "release", id, detail))
	})
	return rel, err
}

// AllowRollback attaches a signed rollback instruction to a release, so
// that "update now" may take agents on newer versions back to it. The
// instruction must verify against the trusted keys and name exactly this
// release.
func (s *Service) AllowRollback(ctx context.Context, p access.Principal, keys []protocol.ReleaseKey, id string, rb protocol.SignedRollback) (store.Release, error) {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return store.Release{}, err
	}
	if len(keys) == 0 {
		return store.Release{}, ErrNoReleaseKeys
	}
	keys, err := s.TrustedReleaseKeys(ctx, keys)
	if err != nil {
		return store.Release{}, err
	}
	rel, err := s.db.GetRelease(ctx, id)
	if err != nil {
		return store.Release{}, err
	}
	st := protocol.ReleaseStatement{Version: rel.Version, OS: rel.OS, Arch: rel.Arch, Size: rel.Size, SHA256: rel.SHA256}
	if err := protocol.VerifyRollback(keys, rb, st); err != nil {
		return store.Release{}, input.Errorf("rollback", "%v", err)
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetReleaseRollback(ctx, id, string(rb.Encode())); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("release.allow_rollback", "release", id, map[string]string{
			"version": rel.Version, "os": rel.OS, "arch": rel.Arch, "key_id": rb.KeyID}))
	})
	if err != nil {
		return store.Release{}, err
	}
	return s.db.GetRelease(ctx, id)
}
