package control

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// MaxPendingHelp bounds the help requests waiting for the server, so a
// user cannot fill the disk from the tray.
const MaxPendingHelp = 20

// Errors of RequestHelp.
var (
	ErrInvalidHelpRequest = errors.New("invalid help request")
	ErrHelpQueueFull      = errors.New("too many help requests are waiting for the server")
)

// RequestHelp records a help request from user with message and queues
// it for the server: it is kept (in Options.HelpFile) until the server
// acknowledges it, sent now when connected, else after the next welcome.
// It is safe to call from any goroutine.
func (c *Client) RequestHelp(user, message string) (protocol.HelpRequest, error) {
	h := protocol.HelpRequest{ID: rand.Text(), User: user, Message: message, At: time.Now().UTC()}
	if err := h.Validate(); err != nil {
		return protocol.HelpRequest{}, fmt.Errorf("%w: %v", ErrInvalidHelpRequest, err)
	}
	if err := c.help.add(h); err != nil {
		return protocol.HelpRequest{}, err
	}
	return h, nil
}

// helpOutbox holds the help requests the server has not acknowledged,
// oldest first, in memory and in its file.
type helpOutbox struct {
	path string // "" keeps them in memory only
	log  *slog.Logger

	mu      sync.Mutex
	pending []protocol.HelpRequest
	// ready is signalled when a request is added.
	ready chan struct{}
}

// helpFile is the outbox on disk.
type helpFile struct {
	Requests []protocol.HelpRequest `json:"requests"`
}

func newHelpOutbox(path string, log *slog.Logger) *helpOutbox {
	o := &helpOutbox{path: path, log: log, ready: make(chan struct{}, 1)}
	if path == "" {
		return o
	}
	if err := o.load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot read the help requests waiting for the server; they are lost", "path", path, "err", err)
	}
	return o
}

func (o *helpOutbox) load() error {
	var hf helpFile
	if err := readJSONFile(o.path, MaxPendingHelp*8<<10, &hf); err != nil {
		return err
	}
	for _, h := range hf.Requests {
		if err := h.Validate(); err != nil {
			o.log.Warn("dropping an invalid help request from the file", "id", h.ID, "err", err)
			continue
		}
		if len(o.pending) < MaxPendingHelp {
			o.pending = append(o.pending, h)
		}
	}
	return nil
}

// save writes the outbox to its file. Called with mu held.
func (o *helpOutbox) save() error {
	if o.path == "" {
		return nil
	}
	b, err := json.Marshal(helpFile{Requests: o.pending})
	if err != nil {
		return err
	}
	return config.WriteFile(o.path, b)
}

// add keeps h, on disk before it returns: the user is told the request
// was recorded only once it would survive a restart.
func (o *helpOutbox) add(h protocol.HelpRequest) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) >= MaxPendingHelp {
		return ErrHelpQueueFull
	}
	o.pending = append(o.pending, h)
	if err := o.save(); err != nil {
		o.pending = o.pending[:len(o.pending)-1]
		return fmt.Errorf("record help request: %w", err)
	}
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return nil
}

// list returns the pending requests, oldest first.
func (o *helpOutbox) list() []protocol.HelpRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.pending)
}

// remove forgets the request id; it reports whether it was pending.
func (o *helpOutbox) remove(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := slices.IndexFunc(o.pending, func(h protocol.HelpRequest) bool { return h.ID == id })
	if i < 0 {
		return false
	}
	o.pending = slices.Delete(o.pending, i, i+1)
	if err := o.save(); err != nil {
		o.log.Warn("cannot record that the server has a help request; it may be sent again", "id", id, "err", err)
	}
	return true
}

// sendHelp sends, with its own ID as the envelope ID, each pending help
// request not yet sent on this connection. The server acknowledges with
// that envelope ID; an unacknowledged request goes again on the next
// connection.
func (s *session) sendHelp(ctx context.Context) error {
	for _, h := range s.c.help.list() {
		if s.helpSent[h.ID] {
			continue
		}
		b, err := protocol.Encode(protocol.TypeHelpRequest, h.ID, h)
		if err != nil {
			return err
		}
		if err := s.write(ctx, protocol.TypeHelpRequest, b); err != nil {
			return err
		}
		if s.helpSent == nil {
			s.helpSent = map[string]bool{}
		}
		s.helpSent[h.ID] = true
		s.c.opts.Log.InfoContext(ctx, "sent help request", "id", h.ID, "user", h.User)
	}
	return nil
}

// onHelpAck forgets an acknowledged help request.
func (s *session) onHelpAck(ctx context.Context, env protocol.Envelope) {
	if s.c.help.remove(env.ID) {
		s.c.opts.Log.InfoContext(ctx, "server acknowledged help request", "id", env.ID)
	}
}

// helpRefused handles a server error about a help request: one the
// server finds malformed would be refused forever and is dropped, and so
// is one refused as one too many (sending it again would only feed the
// flood); any other (an older server without help requests, a passing
// failure) keeps it for the next connection. It reports whether e was
// about one.
func (s *session) helpRefused(ctx context.Context, e protocol.Error) bool {
	if e.RefID == "" || !s.helpSent[e.RefID] {
		return false
	}
	if e.Code == protocol.CodeBadMessage {
		s.c.help.remove(e.RefID)
		s.c.opts.Log.ErrorContext(ctx, "server refused a help request as malformed; dropped it", "id", e.RefID, "message", e.Message)
		return true
	}
	if e.Code == protocol.CodeRateLimited {
		s.c.help.remove(e.RefID)
		s.c.opts.Log.ErrorContext(ctx, "server refused a help request: too many from this machine; dropped it", "id", e.RefID, "message", e.Message)
		return true
	}
	s.c.opts.Log.WarnContext(ctx, "server did not take a help request; it is sent again on the next connection",
		"id", e.RefID, "code", e.Code, "message", e.Message)
	return true
}
