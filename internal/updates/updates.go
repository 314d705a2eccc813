// Package updates offers agent releases to agents and records how each
// update goes: offered, the steps the agent reports, and the confirmation
// the server gives in the new version's handshake.
package updates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/selection"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of an "update now".
const (
	// OfferExpiry is how long an offer waits for an offline agent.
	OfferExpiry = 24 * time.Hour
	// MaxSpread bounds how far downloads may be spread.
	MaxSpread = 6 * time.Hour
	// MaxAgents bounds one request's selection.
	MaxAgents = 10000
)

// Service offers updates and records their steps.
type Service struct {
	db       *store.DB
	cmds     *command.Service
	log      *slog.Logger
	policies *effective.Policies // nil: no automatic rollout
	// rolling serializes Rollout: the job's runs and RunJob's never
	// overlap, so no agent is offered one release twice.
	rolling sync.Mutex
	// batch and spread override RolloutBatch and RolloutSpread when set.
	batch  int
	spread time.Duration
}

// New returns a Service.
func New(db *store.DB, cmds *command.Service, log *slog.Logger) *Service {
	return &Service{db: db, cmds: cmds, log: log}
}

var _ hub.UpdateHandler = (*Service)(nil)

// Selection names the agents of an "update now": explicit agents, or every
// agent of a site or client.
type Selection = selection.Selection

// Request is an "update now".
type Request struct {
	Selection
	// ReleaseID offers this release (to the selected agents of its
	// platform); empty offers each agent the newest release of its
	// channel for its platform.
	ReleaseID string `json:"release_id"`
	// Retry offers a version again to agents where it failed.
	Retry bool `json:"retry"`
	// Rollback offers ReleaseID to agents on newer versions, with the
	// release's signed rollback instruction.
	Rollback bool `json:"rollback"`
	// Spread spreads the downloads over this long (Go duration, e.g. 30m).
	Spread time.Duration `json:"-"`
}

// Summary is what an "update now" did.
type Summary struct {
	BatchID string `json:"batch_id,omitempty"`
	Offered int    `json:"offered"`
	// Skipped counts agents not offered anything, by reason.
	Skipped map[string]int `json:"skipped"`
}

// UpdateNow offers updates to the selected agents.
func (s *Service) UpdateNow(ctx context.Context, p access.Principal, req Request) (Summary, error) {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return Summary{}, err
	}
	if req.Spread < 0 || req.Spread > MaxSpread {
		return Summary{}, input.Errorf("spread", "must be between 0 and %v", MaxSpread)
	}
	sel, err := selection.Resolve(ctx, s.db, req.Selection, MaxAgents)
	agents, target, uninstalled := sel.Agents, sel.Target, sel.Uninstalled
	if err != nil {
		return Summary{}, err
	}
	var fixed *store.Release
	if req.ReleaseID != "" {
		r, err := s.db.GetRelease(ctx, req.ReleaseID)
		if errors.Is(err, store.ErrNotFound) {
			return Summary{}, input.Errorf("release_id", "no such release")
		}
		if err != nil {
			return Summary{}, err
		}
		if r.Status != store.ReleaseActive {
			return Summary{}, input.Errorf("release_id", "release %s is %s", r.Version, r.Status)
		}
		if req.Rollback && r.Rollback == "" {
			return Summary{}, input.Errorf("rollback", "release %s has no signed rollback instruction (steward release sign --rollback, then POST /api/v1/releases/%s/rollback)", r.Version, r.ID)
		}
		fixed = &r
	}
	keys, err := s.db.KeyStatements(ctx)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Skipped: map[string]int{}}
	if uninstalled > 0 {
		sum.Skipped[skipUninstalled] = uninstalled
	}
	var (
		prepared []command.Prepared
		offered  []store.AgentUpdate
	)
	for _, a := range agents {
		rel, why, err := s.choose(ctx, a, fixed, req.Rollback)
		if err != nil {
			return Summary{}, err
		}
		if why == "" && !req.Retry {
			// A version that failed on an agent is not offered there again
			// until a newer one is published or someone asks.
			step, err := s.db.UpdateStep(ctx, a.ID, rel.ID)
			if err != nil {
				return Summary{}, err
			}
			if step == protocol.UpdateFailed || step == protocol.UpdateRolledBack {
				why = "this release failed there before (retry to try again)"
			}
		}
		if why != "" {
			sum.Skipped[why]++
			continue
		}
		var signed protocol.SignedRelease
		if err := json.Unmarshal([]byte(rel.Signature), &signed); err != nil {
			return Summary{}, fmt.Errorf("release %s: stored signature: %w", rel.ID, err)
		}
		offer := protocol.UpdateOffer{ReleaseID: rel.ID, Release: signed, Retry: req.Retry, Spread: protocol.Duration(req.Spread), Keys: keys}
		if req.Rollback && rel.Rollback != "" {
			rb, err := protocol.DecodeSignedRollback([]byte(rel.Rollback))
			if err != nil {
				return Summary{}, fmt.Errorf("release %s: stored rollback instruction: %w", rel.ID, err)
			}
			offer.Rollback = &rb
		}
		args, err := json.Marshal(offer)
		if err != nil {
			return Summary{}, err
		}
		prepared = append(prepared, command.Prepared{AgentID: a.ID, Args: args})
		offered = append(offered, store.AgentUpdate{AgentID: a.ID, ReleaseID: rel.ID, FromVersion: a.Version, ToVersion: rel.Version, Step: store.UpdateOffered})
	}
	if len(prepared) == 0 {
		return sum, nil
	}
	batch, err := s.cmds.CreatePrepared(ctx, p, access.ManageUpdates, protocol.CommandUpdate, target, OfferExpiry, prepared,
		func(tx *store.Tx, b store.CommandBatch, _ []store.Command) error {
			for _, u := range offered {
				if _, err := tx.RecordUpdateStep(ctx, u); err != nil {
					return err
				}
			}
			return tx.AddAudit(ctx, p.Audit("update.offer", "command_batch", b.ID, map[string]string{
				"agents": fmt.Sprint(len(prepared)), "target": target, "release_id": req.ReleaseID,
				"retry": fmt.Sprint(req.Retry), "spread": req.Spread.String()}))
		})
	if err != nil {
		return Summary{}, err
	}
	sum.BatchID, sum.Offered = batch.ID, len(prepared)
	return sum, nil
}

// skipUninstalled is the reason an agent named in a selection that was
// uninstalled is offered nothing.
const skipUninstalled = "uninstalled"

// choose picks the release for an agent, or says why it gets none.
func (s *Service) choose(ctx context.Context, a store.Agent, fixed *store.Release, rollback bool) (store.Release, string, error) {
	running := strings.TrimPrefix(a.Version, "v")
	if fixed != nil {
		if fixed.OS != a.OS || fixed.Arch != a.Arch {
			return store.Release{}, "another platform than the release", nil
		}
		if fixed.Version == running {
			return store.Release{}, "already on this version", nil
		}
		if protocol.ValidVersion(running) && protocol.CompareVersions(fixed.Version, running) < 0 && !rollback {
			return store.Release{}, "on a newer version (ask for a rollback to go back)", nil
		}
		return *fixed, "", nil
	}
	ch, err := s.db.EffectiveUpdateChannel(ctx, a.ID)
	if err != nil {
		return store.Release{}, "", err
	}
	rel, err := s.db.NewestRelease(ctx, ch.Channel, a.OS, a.Arch, protocol.CompareVersions)
	if errors.Is(err, store.ErrNotFound) {
		return store.Release{}, "no release for its channel and platform", nil
	}
	if err != nil {
		return store.Release{}, "", err
	}
	if protocol.ValidVersion(running) && protocol.CompareVersions(rel.Version, running) <= 0 {
		return store.Release{}, "already on the newest release of its channel", nil
	}
	return rel, "", nil
}

// Confirm is called with the hello of a connecting agent: when it reports
// a pending update and runs the version that update installed, the update
// is recorded confirmed and its release ID returned for the welcome.
func (s *Service) Confirm(ctx context.Context, c *hub.Conn, f protocol.Facts) (string, error) {
	u := f.Update
	if u == nil || strings.TrimPrefix(f.AgentVersion, "v") != u.ToVersion {
		return "", nil
	}
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		changed, err := tx.RecordUpdateStep(ctx, store.AgentUpdate{AgentID: c.AgentID, ReleaseID: u.ReleaseID,
			FromVersion: u.FromVersion, ToVersion: u.ToVersion, Step: protocol.UpdateConfirmed})
		if err != nil || !changed {
			return err
		}
		return tx.AddAudit(ctx, store.AuditEntry{ActorType: "agent", ActorID: c.AgentID, ActorName: f.Hostname,
			Action: "agent.update", TargetType: "agent", TargetID: c.AgentID,
			Detail: map[string]string{"release_id": u.ReleaseID, "from": u.FromVersion, "to": u.ToVersion}})
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || isForeignKey(err) {
			// A release deleted since: nothing to confirm against, but the
			// agent runs it; let it keep its backup until it is replaced.
			return "", nil
		}
		return "", err
	}
	s.log.Info("agent update confirmed", "agent_id", c.AgentID, "release_id", u.ReleaseID, "from", u.FromVersion, "to", u.ToVersion)
	return u.ReleaseID, nil
}

// Status records a step an agent reports; a failure applies the halt
// rules to its release at once.
func (s *Service) Status(ctx context.Context, c *hub.Conn, st protocol.UpdateStatus) error {
	failed := false
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		changed, err := tx.RecordUpdateStep(ctx, store.AgentUpdate{AgentID: c.AgentID, ReleaseID: st.ReleaseID,
			FromVersion: st.FromVersion, ToVersion: st.ToVersion, Step: st.Step, Reason: st.Reason, Log: st.Log,
			Done: st.Done, Total: st.Total}) // the server's clock orders the history: agents' clocks drift
		if err != nil {
			if isForeignKey(err) {
				s.log.Info("update status for an unknown release", "agent_id", c.AgentID, "release_id", st.ReleaseID, "step", st.Step)
				return nil
			}
			return err
		}
		if changed && (st.Step == protocol.UpdateFailed || st.Step == protocol.UpdateRolledBack || st.Step == protocol.UpdateRefused) {
			s.log.Warn("agent update did not happen", "agent_id", c.AgentID, "release_id", st.ReleaseID,
				"from", st.FromVersion, "to", st.ToVersion, "step", st.Step, "reason", st.Reason)
			failed = st.Step != protocol.UpdateRefused
		}
		return nil
	})
	if err != nil || !failed {
		return err
	}
	if err := s.checkHalt(ctx, st.ReleaseID); err != nil {
		// The rollout job checks again at its next run.
		s.log.Error("apply the halt rules after a failed update", "release_id", st.ReleaseID, "err", err)
	}
	return nil
}

// isForeignKey reports a write that named a release (or agent) that does
// not exist.
func isForeignKey(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "foreign key")
}
