package control

import (
	"context"
	"sync"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Updates is the agent's side of updates (an update.Runner): the client
// hands it offers and the welcome's confirmation, and sends the steps it
// reports (ReportUpdate).
type Updates interface {
	// Pending is the update to name in the next hello, nil if none.
	Pending() *protocol.PendingUpdate
	// Confirmed is called when a welcome confirms releaseID.
	Confirmed(ctx context.Context, releaseID string)
	// Offer accepts an offer (and runs it elsewhere) or refuses it,
	// returning the refusal; it must not block long.
	Offer(ctx context.Context, offer protocol.UpdateOffer) error
}

// SetUpdates installs the agent's side of updates; call it before Run.
func (c *Client) SetUpdates(u Updates) { c.opts.Updates = u }

// maxUpdateReports bounds the update reports waiting for a connection;
// download progress goes first when it is full.
const maxUpdateReports = 32

// updateOutbox holds update reports until a connection sends them.
type updateOutbox struct {
	mu      sync.Mutex
	pending []updateReport
	ready   chan struct{}
}

type updateReport struct {
	status protocol.UpdateStatus
	sent   func() // called once it was written, may be nil
}

func newUpdateOutbox() *updateOutbox { return &updateOutbox{ready: make(chan struct{}, 1)} }

// ReportUpdate queues an update step for the server; sent, if not nil, is
// called once the report is written to a connection. Safe from any
// goroutine.
func (c *Client) ReportUpdate(s protocol.UpdateStatus, sent func()) {
	o := c.updates
	o.mu.Lock()
	if len(o.pending) >= maxUpdateReports {
		drop := 0
		for i, r := range o.pending {
			if r.status.Step == protocol.UpdateDownloading {
				drop = i
				break
			}
		}
		o.pending = append(o.pending[:drop], o.pending[drop+1:]...)
	}
	o.pending = append(o.pending, updateReport{status: s, sent: sent})
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// send writes the waiting reports in order, keeping those a failed write
// did not take.
func (o *updateOutbox) send(send func(typ string, payload any) error) error {
	o.mu.Lock()
	todo := o.pending
	o.pending = nil
	o.mu.Unlock()
	for i, r := range todo {
		if err := send(protocol.TypeUpdateStatus, r.status); err != nil {
			o.mu.Lock()
			o.pending = append(append([]updateReport(nil), todo[i:]...), o.pending...)
			o.mu.Unlock()
			return err
		}
		if r.sent != nil {
			r.sent()
		}
	}
	return nil
}

// offerUpdate runs an update command: the result says whether the offer
// was taken; its steps follow as update reports.
func (c *Client) offerUpdate(ctx context.Context, cmd protocol.Command) protocol.Result {
	if c.opts.Updates == nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultUnsupported, Error: "this agent does not take updates"}
	}
	offer, err := protocol.DecodeUpdateOffer(cmd.Args)
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	if err := c.opts.Updates.Offer(ctx, offer); err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK}
}
