package hub

import (
	"context"
	"sync"

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
	err            error
	done           chan struct{}
	// queued holds a connecting agent's open commands, read after the
	// connect committed (so a command created meanwhile is either seen
	// here or dispatched to the live connection), in one query per batch.
	queued    []store.Command
	queuedErr error
}

// presenceWriter records connects and disconnects with group commit: the
// first caller writes everything queued, in order and in one transaction,
// while later callers wait for it. A connect storm of thousands of agents
// becomes a few hundred transactions instead of thousands, and nobody
// waits on a timer.
type presenceWriter struct {
	db *store.DB

	mu      sync.Mutex
	pending []*presenceOp
	writing bool
}

// do records op and returns when it is committed.
func (w *presenceWriter) do(ctx context.Context, op *presenceOp) error {
	op.done = make(chan struct{})
	w.mu.Lock()
	w.pending = append(w.pending, op)
	if w.writing {
		w.mu.Unlock()
		<-op.done
		return op.err
	}
	w.writing = true
	w.mu.Unlock()
	for {
		w.mu.Lock()
		batch := w.pending
		w.pending = nil
		if len(batch) == 0 {
			w.writing = false
			w.mu.Unlock()
			break
		}
		w.mu.Unlock()
		w.write(context.WithoutCancel(ctx), batch)
	}
	<-op.done
	return op.err
}

// write commits a batch; if the transaction fails, each op is retried on
// its own so one bad row cannot fail the others.
func (w *presenceWriter) write(ctx context.Context, batch []*presenceOp) {
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
	if err != nil && len(batch) > 1 {
		for _, op := range batch {
			op.err = w.db.WithTx(ctx, func(tx *store.Tx) error { return apply(ctx, tx, op) })
		}
	} else {
		for _, op := range batch {
			op.err = err
		}
	}
	w.loadQueued(ctx, batch)
	for _, op := range batch {
		close(op.done)
	}
}

// loadQueued reads the open commands of the batch's connected agents.
func (w *presenceWriter) loadQueued(ctx context.Context, batch []*presenceOp) {
	var ids []string
	for _, op := range batch {
		if op.connect != nil && op.err == nil {
			ids = append(ids, op.connect.AgentID)
		}
	}
	if len(ids) == 0 {
		return
	}
	queued, err := w.db.OpenCommandsFor(ctx, ids)
	for _, op := range batch {
		if op.connect != nil && op.err == nil {
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
