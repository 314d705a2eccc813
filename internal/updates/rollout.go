package updates

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Rollout bounds.
const (
	// RolloutBatch bounds the agents offered a release per run of the job.
	RolloutBatch = 500
	// RolloutSpread spreads the downloads of one batch.
	RolloutSpread = 30 * time.Minute
	// haltMinTried is how many agents must have tried a release before the
	// failed share can halt it.
	haltMinTried = 10
)

// SetRollout changes the rollout's batch and spread (RolloutBatch and
// RolloutSpread when zero): an operator with a small fleet or a fast
// network, or a benchmark, need not wait 30 minutes per batch.
func (s *Service) SetRollout(batch int, spread time.Duration) {
	s.batch, s.spread = batch, spread
}

// SetPolicies gives the service the effective policies the rollout reads;
// without them Rollout does nothing.
func (s *Service) SetPolicies(p *effective.Policies) { s.policies = p }

// InRollout reports whether an agent is among the percent that get a
// release: a hash of the agent and the version, so that the same agents
// stay in as the percentage grows, and each release picks other early
// agents.
func InRollout(agentID, version string, percent float64) bool {
	if percent >= 100 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(agentID + "/" + version))
	return float64(h.Sum32()%10000) < percent*100
}

// Rollout is the singleton job that offers each channel's newest release
// to the agents whose policy takes it automatically, and halts a release
// that fails on too many agents.
func (s *Service) Rollout(ctx context.Context) error {
	if s.policies == nil {
		return nil
	}
	s.rolling.Lock()
	defer s.rolling.Unlock()
	releases, _, err := s.db.ListReleases(ctx, store.ReleaseFilter{Status: store.ReleaseActive}, store.Page{Limit: 500})
	if err != nil {
		return err
	}
	newest := map[string]store.Release{}
	for _, r := range releases {
		k := r.Channel + "/" + r.OS + "/" + r.Arch
		if cur, ok := newest[k]; !ok || protocol.CompareVersions(r.Version, cur.Version) > 0 {
			newest[k] = r
		}
	}
	resolver, def, err := s.defaultPolicy(ctx)
	if err != nil {
		return err
	}
	for _, r := range newest {
		halted, err := s.haltIfFailing(ctx, r, def)
		if err != nil || halted {
			if err != nil {
				s.log.Error("check the release's failures", "release_id", r.ID, "err", err)
			}
			continue
		}
		if err := s.rollOut(ctx, r, resolver); err != nil {
			s.log.Error("roll out release", "release_id", r.ID, "version", r.Version, "err", err)
		}
	}
	return nil
}

// haltIfFailing halts a release whose failures pass the default policy's
// halt rules.
func (s *Service) haltIfFailing(ctx context.Context, r store.Release, def policy.Effective) (bool, error) {
	counts, err := s.db.ReleaseStepCounts(ctx, r.ID)
	if err != nil {
		return false, err
	}
	failed := counts[protocol.UpdateFailed] + counts[protocol.UpdateRolledBack]
	tried := failed + counts[protocol.UpdateConfirmed]
	maxAgents := intField(def, "updates.halt.failed_agents", 20)
	maxPct := floatField(def, "updates.halt.failed_percent", 10)
	var why string
	switch {
	case int64(failed) > maxAgents:
		why = fmt.Sprintf("%d agents failed to install it (more than %d)", failed, maxAgents)
	case tried >= haltMinTried && float64(failed)*100 > maxPct*float64(tried):
		why = fmt.Sprintf("%d of %d agents that tried it failed (more than %.0f%%)", failed, tried, maxPct)
	default:
		return false, nil
	}
	var halted bool
	cancelled := 0
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if halted, err = tx.HaltActiveRelease(ctx, r.ID); err != nil || !halted {
			return err
		}
		// Offers not yet taken are called back, so that the failures stop
		// at the agents already installing it, not at the end of a batch.
		if cancelled, err = tx.CancelOffers(ctx, r.ID, "called back: the rollout of "+r.Version+" was halted: "+why); err != nil {
			return err
		}
		return tx.AddAudit(ctx, rolloutPrincipal().Audit("release.halt", "release", r.ID,
			map[string]string{"version": r.Version, "os": r.OS, "arch": r.Arch, "reason": why, "offers_cancelled": fmt.Sprint(cancelled)}))
	})
	if err != nil || !halted {
		return halted, err
	}
	s.log.Warn("release rollout halted", "release_id", r.ID, "version", r.Version, "os", r.OS, "arch", r.Arch, "reason", why,
		"offers_cancelled", cancelled)
	return true, nil
}

// checkHalt applies the halt rules to an active release as soon as one of
// its agents reports a failure, rather than at the rollout job's next run:
// the offers still waiting are called back the moment the rules trip.
func (s *Service) checkHalt(ctx context.Context, releaseID string) error {
	if s.policies == nil {
		return nil
	}
	r, err := s.db.GetRelease(ctx, releaseID)
	if err != nil || r.Status != store.ReleaseActive {
		return err
	}
	_, def, err := s.defaultPolicy(ctx)
	if err != nil {
		return err
	}
	_, err = s.haltIfFailing(ctx, r, def)
	return err
}

// defaultPolicy returns a resolver of the effective policies and the
// default level's policy, whose halt rules apply to every release.
func (s *Service) defaultPolicy(ctx context.Context) (*effective.Resolver, policy.Effective, error) {
	resolver, err := s.policies.Resolver(ctx)
	if err != nil {
		return nil, policy.Effective{}, err
	}
	def, err := resolver.Resolve("", "", "")
	return resolver, def, err
}

// rollOut offers r to the next batch of agents that take it, paging past
// the candidates their policy keeps out (auto off, pinned, outside the
// percentage, not a release build).
func (s *Service) rollOut(ctx context.Context, r store.Release, resolver *effective.Resolver) error {
	batch, spread := RolloutBatch, RolloutSpread
	if s.batch > 0 {
		batch = s.batch
	}
	if s.spread > 0 {
		spread = s.spread
	}
	var signed protocol.SignedRelease
	if err := json.Unmarshal([]byte(r.Signature), &signed); err != nil {
		return fmt.Errorf("stored signature: %w", err)
	}
	keys, err := s.db.KeyStatements(ctx)
	if err != nil {
		return err
	}
	var (
		prepared []command.Prepared
		offered  []store.AgentUpdate
		after    string
	)
	// Candidates the policy passes over (outside the rollout percent, not
	// taking updates, pinned, on a developer build) are never offered and
	// so come back first in every run: page past them, or a fleet with
	// more of them than a batch would never get further.
	staleBefore := time.Now().Add(-OfferExpiry)
	for len(prepared) < batch {
		candidates, err := s.db.RolloutCandidates(ctx, r, staleBefore, after, batch)
		if err != nil {
			return err
		}
		if len(candidates) == 0 {
			break
		}
		after = candidates[len(candidates)-1].AgentID
		for _, c := range candidates {
			running := strings.TrimPrefix(c.Version, "v")
			// A build without a release version (a developer's) is never
			// replaced automatically; "update now" still can.
			if !protocol.ValidVersion(running) || protocol.CompareVersions(r.Version, running) <= 0 {
				continue
			}
			eff, err := resolver.Resolve(c.ClientID, c.SiteID, c.AgentID)
			if err != nil {
				s.log.Warn("resolve the policy of a rollout candidate", "agent_id", c.AgentID, "err", err)
				continue
			}
			if !boolField(eff, "updates.auto", true) {
				continue
			}
			if pin := textField(eff, "updates.pinned_version"); pin != "" && pin != r.Version {
				continue
			}
			if !InRollout(c.AgentID, r.Version, floatField(eff, "updates.rollout_percent", 100)) {
				continue
			}
			deadline := durationField(eff, "updates.confirm_deadline", protocol.DefaultConfirmDeadline)
			args, err := json.Marshal(protocol.UpdateOffer{ReleaseID: r.ID, Release: signed,
				ConfirmDeadline: protocol.Duration(deadline), Spread: protocol.Duration(spread), Keys: keys})
			if err != nil {
				return err
			}
			prepared = append(prepared, command.Prepared{AgentID: c.AgentID, Args: args})
			offered = append(offered, store.AgentUpdate{AgentID: c.AgentID, ReleaseID: r.ID, FromVersion: c.Version,
				ToVersion: r.Version, Step: store.UpdateOffered})
			if len(prepared) == batch {
				break
			}
		}
		if len(candidates) < batch {
			break
		}
	}
	if len(prepared) == 0 {
		return nil
	}
	p := rolloutPrincipal()
	target := fmt.Sprintf("rollout of %s to %d agents", r.Version, len(prepared))
	_, err = s.cmds.CreatePrepared(ctx, p, access.ManageUpdates, protocol.CommandUpdate, target, OfferExpiry, prepared,
		func(tx *store.Tx, b store.CommandBatch, _ []store.Command) error {
			for _, u := range offered {
				if _, err := tx.RecordUpdateStep(ctx, u); err != nil {
					return err
				}
			}
			return tx.AddAudit(ctx, p.Audit("update.offer", "release", r.ID, map[string]string{
				"agents": fmt.Sprint(len(prepared)), "version": r.Version, "batch_id": b.ID, "automatic": "true"}))
		})
	if err == nil {
		s.log.Info("release offered", "release_id", r.ID, "version", r.Version, "agents", len(prepared))
	}
	return err
}

// rolloutPrincipal is who the automatic rollout acts as in the audit log.
func rolloutPrincipal() access.Principal {
	p := access.Console()
	p.IP = "automatic rollout"
	return p
}

func boolField(e policy.Effective, path string, def bool) bool {
	if v, ok := e.Get(path); ok {
		if b, ok := v.Value.(bool); ok {
			return b
		}
	}
	return def
}

func textField(e policy.Effective, path string) string {
	if v, ok := e.Get(path); ok {
		if s, ok := v.Value.(string); ok {
			return s
		}
	}
	return ""
}

func floatField(e policy.Effective, path string, def float64) float64 {
	if v, ok := e.Get(path); ok {
		if f, ok := v.Value.(float64); ok {
			return f
		}
	}
	return def
}

func intField(e policy.Effective, path string, def int64) int64 {
	if v, ok := e.Get(path); ok {
		if n, ok := v.Value.(int64); ok {
			return n
		}
	}
	return def
}

func durationField(e policy.Effective, path string, def time.Duration) time.Duration {
	if v, ok := e.Get(path); ok {
		if d, ok := v.Value.(time.Duration); ok {
			return d
		}
	}
	return def
}
