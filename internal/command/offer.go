package command

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// MaxPreparedTimeout bounds how long a prepared command waits: a script
// run may wait a week for an offline agent, then run for a day.
const MaxPreparedTimeout = 9 * 24 * time.Hour

// Prepared is one command of a batch whose arguments differ per agent
// (an update offer names the release of the agent's own platform).
type Prepared struct {
	AgentID string
	Args    json.RawMessage
}

// CreatePrepared stores a batch of commands named name, one per prepared
// agent, with the permission action checked and audit written by the
// caller's function in the same transaction (which also gets the
// commands, to record what else belongs to them), and sends them as Create
// does. It is for commands the server builds itself (updates, scripts),
// which the generic Create refuses.
func (s *Service) CreatePrepared(ctx context.Context, p access.Principal, action access.Action, name, target string,
	timeout time.Duration, prepared []Prepared, audit func(tx *store.Tx, batch store.CommandBatch, cmds []store.Command) error) (store.BatchStatus, error) {
	if err := access.Require(p, action); err != nil {
		return store.BatchStatus{}, err
	}
	if timeout < MinTimeout || timeout > MaxPreparedTimeout {
		return store.BatchStatus{}, fmt.Errorf("command %s: timeout %v outside %v..%v", name, timeout, MinTimeout, MaxPreparedTimeout)
	}
	ids := make([]string, len(prepared))
	for i, pr := range prepared {
		ids[i] = pr.AgentID
	}
	targets, err := s.db.CommandTargets(ctx, store.AgentFilter{}, ids)
	if err != nil {
		return store.BatchStatus{}, err
	}
	args := make(map[string]json.RawMessage, len(prepared))
	for _, pr := range prepared {
		args[pr.AgentID] = pr.Args
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	batch := store.CommandBatch{ID: store.NewID(), Name: name, Target: target, CreatedBy: p.ActorName(), CreatedAt: now, Agents: len(targets)}
	cmds := make([]store.Command, len(targets))
	for i, t := range targets {
		cmds[i] = store.Command{
			ID: store.NewID(), BatchID: batch.ID, AgentID: t.AgentID, Name: name, Args: args[t.AgentID],
			State: store.CommandQueued, CreatedBy: batch.CreatedBy, CreatedAt: now, ExpiresAt: now.Add(timeout),
		}
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if len(cmds) > 0 {
			if err := tx.CreateCommands(ctx, batch, cmds); err != nil {
				return err
			}
		}
		return audit(tx, batch, cmds)
	})
	if err != nil {
		return store.BatchStatus{}, err
	}
	s.dispatch(context.WithoutCancel(ctx), targets, cmds)
	if len(cmds) == 0 {
		return store.BatchStatus{}, nil
	}
	return s.db.CommandBatch(ctx, batch.ID)
}
