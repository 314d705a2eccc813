package hub

import (
	"context"
	"errors"
	"time"

	"github.com/steward-rmm/steward/internal/groupcommit"
	"github.com/steward-rmm/steward/internal/store"
)

// presenceOp is one connect, disconnect or policy acknowledgement to
// record.
type presenceOp struct {
	connect *store.Connection
	agentID string // for a disconnect
	connID  string // for a disconnect
	// policyRevision, when set, records a policy acknowledgement instead.
	policyRevision string
	changed        bool // set for a disconnect that marked the agent offline
	// queued holds a connecting agent's open commands, read after the
	// connect committed (so a command created meanwhile is either seen
	// here or dispatched to the live connection), in one query per batch.
	queued    []store.Command
	queuedErr error
}

// presenceWriter records connects, disconnects and policy
// acknowledgements with group commit, in order and in one transaction per
// batch: a connect storm of thousands of agents becomes a few hundred
// transactions instead of thousands, and nobody waits on a timer.
type presenceWriter struct {
	db    *store.DB
	group *groupcommit.Group[*presenceOp]
	// hung is told when a write outlived its deadline: the database hangs
	// rather than fails.
	hung func(error)
}

// newPresenceWriter bounds each write by bound (most callers are
// connections, whose context has no deadline): a hung database fails
// presence writes after it instead of holding every connect and
// disconnect behind the first one forever.
func newPresenceWriter(db *store.DB, bound time.Duration, hung func(error)) *presenceWriter {
	w := &presenceWriter{db: db, hung: hung}
	w.group = groupcommit.NewBounded(bound, w.write)
	return w
}

// do records op and returns when it is committed.
func (w *presenceWriter) do(ctx context.Context, op *presenceOp) error {
	err := w.group.Do(ctx, op)
	if errors.Is(err, context.DeadlineExceeded) {
		w.hung(err)
	}
	return err
}

// write commits a batch; if the transaction fails, each op is retried on
// its own so one bad row cannot fail the others.
func (w *presenceWriter) write(ctx context.Context, batch []*presenceOp) []error {
	err := w.db.WithTx(ctx, func(tx *store.Tx) error {
		for i := 0; i < len(batch); {
			if batch[i].connect == nil {
				if err := apply(ctx, tx, batch[i]); err != nil {
					return err
				}
				i++
				continue
			}
			// A run of connects, each agent once, is one statement: a
			// storm's batch costs a few round trips, not one per agent.
			seen := map[string]bool{}
			var run []store.Connection
			for ; i < len(batch) && batch[i].connect != nil && !seen[batch[i].connect.AgentID]; i++ {
				seen[batch[i].connect.AgentID] = true
				run = append(run, *batch[i].connect)
			}
			if err := tx.MarkConnectedAll(ctx, run); err != nil {
				return err
			}
		}
		return nil
	})
	errs := groupcommit.Same(err, len(batch))
	if err != nil && len(batch) > 1 {
		for i, op := range batch {
			errs[i] = w.db.WithTx(ctx, func(tx *store.Tx) error { return apply(ctx, tx, op) })
		}
	}
	w.loadQueued(ctx, batch, errs)
	return errs
}

// loadQueued reads the open commands of the batch's connected agents
// whose connect was stored (errs holds the batch's errors, nil for none).
func (w *presenceWriter) loadQueued(ctx context.Context, batch []*presenceOp, errs []error) {
	stored := func(i int) bool { return batch[i].connect != nil && (errs == nil || errs[i] == nil) }
	var ids []string
	for i, op := range batch {
		if stored(i) {
			ids = append(ids, op.connect.AgentID)
		}
	}
	if len(ids) == 0 {
		return
	}
	queued, err := w.db.OpenCommandsFor(ctx, ids)
	for i, op := range batch {
		if stored(i) {
			op.queued, op.queuedErr = queued[op.connect.AgentID], err
		}
	}
}

func apply(ctx context.Context, tx *store.Tx, op *presenceOp) error {
	if op.connect != nil {
		return tx.MarkConnected(ctx, *op.connect)
	}
	if op.policyRevision != "" {
		return tx.SetPolicyRevision(ctx, op.agentID, op.policyRevision)
	}
	changed, err := tx.MarkDisconnected(ctx, op.agentID, op.connID)
	op.changed = changed
	return err
}
