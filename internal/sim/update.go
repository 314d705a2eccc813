package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/agent/backoff"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of a simulated update.
const (
	// maxDownloadAttempts bounds the tries of one download that broke.
	maxDownloadAttempts = 20
	// maxBusyWait bounds how long, in simulated time, a download keeps
	// coming back to a server that answers busy (503 or 429), as the real
	// agent's.
	maxBusyWait = 2 * time.Hour
	// defaultBusyWait is the wait after a busy answer without Retry-After,
	// as the real agent's.
	defaultBusyWait = 30 * time.Second
	// maxUnsent bounds the step reports an agent keeps while it is not
	// connected.
	maxUnsent = 8
	// simulatedFailure is the reason a failing update reports.
	simulatedFailure = "simulated failure: the new version did not start; the watchdog restored the previous one"
)

// UpdateConfig is how simulated agents take update offers (the "update"
// command). They run the real agent's steps without a binary: wait a
// random share of the offer's spread, download the release file (or not),
// report downloading, verified and swapped, then reconnect as the new
// version with Facts.Update until the server confirms it in the welcome.
type UpdateConfig struct {
	// TimeScale multiplies the waits the server asks for, the offer's
	// spread and a busy download's Retry-After, so that a benchmark need
	// not wait the 30 minutes of a real rollout; 1 waits as a real agent
	// does, 0 not at all.
	TimeScale float64
	// Download fetches the release file from protocol.ReleaseFilePath and
	// checks its size and SHA-256 against the signed statement; without
	// it the download step is reported but nothing is fetched.
	Download bool
	// FailRate is the share of agents (0 to 1) on which an update fails:
	// it is swapped, then reported rolled_back. Which agents fail depends
	// on the agent and the version only, so a rerun fails the same ones.
	FailRate float64
	// FailVersions fail on every agent.
	FailVersions []string
}

func (u UpdateConfig) validate() error {
	switch {
	case u.TimeScale < 0 || u.TimeScale > 1:
		return fmt.Errorf("update time scale: must be between 0 and 1, got %g", u.TimeScale)
	case u.FailRate < 0 || u.FailRate > 1:
		return fmt.Errorf("update fail rate: must be between 0 and 1, got %g", u.FailRate)
	}
	for _, v := range u.FailVersions {
		if !protocol.ValidVersion(v) {
			return fmt.Errorf("update fail versions: %q is not a version such as 1.4.0", v)
		}
	}
	return nil
}

// fails reports whether the update of agent to version fails.
func (u UpdateConfig) fails(agentID, version string) bool {
	if slices.Contains(u.FailVersions, version) {
		return true
	}
	if u.FailRate <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(agentID + "/" + version))
	return float64(h.Sum32()%10000) < u.FailRate*10000
}

// updateCounters count the updates of all agents.
type updateCounters struct {
	offered    atomic.Int64 // offers taken (not repeated ones)
	refused    atomic.Int64 // offers of a version not newer than the one running, or while updating
	downloaded atomic.Int64 // release bytes downloaded
	busy       atomic.Int64 // downloads the server answered busy
	swapped    atomic.Int64
	confirmed  atomic.Int64 // welcomes that confirmed the update of their hello
	failed     atomic.Int64 // failed or rolled back
	cancelled  atomic.Int64 // offers the server called back (download refused as gone)
	waited     atomic.Int64 // updates that waited for their maintenance window
	lost       atomic.Int64 // step reports dropped: more than maxUnsent waited for a connection
}

// agentUpdate is an agent's version and the update it waits to have
// confirmed. Guarded by agent.mu.
type agentUpdate struct {
	// window is the policy's update window, as the real agent keeps it.
	window   protocol.UpdateWindow
	version  string
	pending  *protocol.PendingUpdate
	updating bool // an offer is being carried out
	// unsent are step reports made while not connected, sent after the
	// next welcome, as the real agent reports the state it kept on disk.
	unsent []protocol.UpdateStatus
}

// takeOffer answers an update command and, unless it refuses the offer,
// carries it out on a goroutine owned by the Sim's updates group.
func (s *Sim) takeOffer(ctx context.Context, client *http.Client, a *agent, cmd protocol.Command) protocol.Result {
	offer, err := protocol.DecodeUpdateOffer(cmd.Args)
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	to := offer.Release.Statement.Version
	a.mu.Lock()
	from, busy := a.upd.version, a.upd.updating
	refuse := ""
	switch {
	case busy:
		refuse = "another update is under way"
	case protocol.ValidVersion(from) && protocol.CompareVersions(to, from) <= 0:
		refuse = "version " + to + " is not newer than " + from
	default:
		a.upd.updating = true
	}
	a.mu.Unlock()
	st := protocol.UpdateStatus{ReleaseID: offer.ReleaseID, FromVersion: from, ToVersion: to}
	if refuse != "" {
		s.c.upd.refused.Add(1)
		st.Step, st.Reason = protocol.UpdateRefused, refuse
		s.reportUpdate(a, st)
	} else {
		s.c.upd.offered.Add(1)
		s.updates.Go(func() { s.runUpdate(ctx, client, a, offer, st) })
	}
	out, _ := json.Marshal(map[string]string{"accepted": strconv.FormatBool(refuse == ""), "reason": refuse})
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out}
}

// runUpdate carries out an accepted offer until the swap (or a failure).
func (s *Sim) runUpdate(ctx context.Context, client *http.Client, a *agent, offer protocol.UpdateOffer, st protocol.UpdateStatus) {
	ok := false
	defer func() {
		if !ok {
			a.mu.Lock()
			a.upd.updating = false
			a.mu.Unlock()
		}
	}()
	if !sleep(ctx, s.scaled(time.Duration(rand64(int64(offer.Spread)+1)))) {
		return
	}
	if !s.awaitWindow(ctx, a, offer, st) {
		return
	}
	stmt := offer.Release.Statement
	st.Step, st.Total = protocol.UpdateDownloading, stmt.Size
	s.reportUpdate(a, st)
	st.Total = 0
	if s.cfg.Update.Download {
		if err := s.download(ctx, client, a, offer.ReleaseID, stmt); err != nil {
			if ctx.Err() != nil {
				return
			}
			var gone *calledBack
			// Free before the report: a cancelled offer is made again at
			// the rollout's next run, which a busy agent would refuse
			// for good.
			a.mu.Lock()
			a.upd.updating = false
			a.mu.Unlock()
			if errors.As(err, &gone) {
				s.c.upd.cancelled.Add(1)
				st.Step, st.Reason = protocol.UpdateCancelled, truncateReason(gone.reason)
				s.reportUpdate(a, st)
				return
			}
			s.c.upd.failed.Add(1)
			st.Step, st.Reason = protocol.UpdateFailed, truncateReason(err.Error())
			s.reportUpdate(a, st)
			return
		}
	}
	st.Step = protocol.UpdateVerified
	s.reportUpdate(a, st)
	st.Step = protocol.UpdateSwapped
	s.reportUpdate(a, st)
	s.c.upd.swapped.Add(1)
	if s.cfg.Update.fails(a.id, stmt.Version) {
		// The real agent restarts, fails and is put back by its watchdog,
		// which then reports; the simulated one stays connected.
		s.c.upd.failed.Add(1)
		st.Step, st.Reason = protocol.UpdateRolledBack, simulatedFailure
		s.reportUpdate(a, st)
		return
	}
	a.mu.Lock()
	a.upd.version = stmt.Version
	a.upd.pending = &protocol.PendingUpdate{ReleaseID: offer.ReleaseID, FromVersion: st.FromVersion, ToVersion: stmt.Version}
	a.upd.updating = false
	a.mu.Unlock()
	ok = true
	// Restart on the new version: the agent's goroutine reconnects at once
	// and says hello with Facts.Update. Not connected, the next hello says
	// it; a connection being set up is restarted once it is stored
	// (restartIfSwapped).
	if sess := a.sess.Load(); sess != nil {
		a.restart.Store(true)
		sess.ws.Close(websocket.StatusNormalClosure, "restarting on the new version")
	}
}

// windowRecheck is how often a simulated update waiting for its window
// reads the window again (the real agent: every minute).
const windowRecheck = 250 * time.Millisecond

// awaitWindow waits, as the real agent does, until the policy's update
// window is open, reporting once that the update waits.
func (s *Sim) awaitWindow(ctx context.Context, a *agent, offer protocol.UpdateOffer, st protocol.UpdateStatus) bool {
	reported := false
	for {
		a.mu.Lock()
		w := a.upd.window
		a.mu.Unlock()
		now := time.Now()
		at := w.Next(now)
		if !at.After(now) {
			return true
		}
		if !reported {
			s.c.upd.waited.Add(1)
			st.Step, st.Reason = protocol.UpdateWaiting, "waiting for the maintenance window "+w.String()
			s.reportUpdate(a, st)
			reported = true
		}
		if !sleep(ctx, min(at.Sub(now), windowRecheck)) {
			return false
		}
	}
}

// applyPolicy keeps what the simulator acts on from a policy document:
// the update window.
func (a *agent) applyPolicy(doc json.RawMessage) {
	var p struct {
		Updates struct {
			Window string `json:"window"`
		} `json:"updates"`
	}
	if json.Unmarshal(doc, &p) != nil {
		return
	}
	w, err := protocol.ParseUpdateWindow(p.Updates.Window)
	if err != nil {
		return
	}
	a.mu.Lock()
	a.upd.window = w
	a.mu.Unlock()
}

// calledBack is a download the agent dropped without fault of the
// release: the server called the offer back (the release's rollout was
// halted, or it was withdrawn), or stayed busy for maxBusyWait.
type calledBack struct{ reason string }

func (c *calledBack) Error() string { return "download: dropped: " + c.reason }

// download fetches the release file with the agent's credentials and
// checks it against the statement, retrying while the server is busy.
func (s *Sim) download(ctx context.Context, client *http.Client, a *agent, releaseID string, stmt protocol.ReleaseStatement) error {
	var lastErr error
	bo := backoff.Backoff{Base: s.cfg.BackoffBase, Cap: s.cfg.BackoffCap}
	busyUntil := time.Now().Add(s.scaled(maxBusyWait))
	for broken := 0; broken < maxDownloadAttempts; {
		server := 0
		if sess := a.sess.Load(); sess != nil {
			server = sess.server
		}
		wait, err := s.downloadOnce(ctx, client, a, s.baseURLs[server]+protocol.ReleaseFilePath+releaseID, stmt)
		if err == nil || errors.As(err, new(*calledBack)) {
			return err
		}
		lastErr = err
		var pause time.Duration
		if wait > 0 {
			if time.Now().After(busyUntil) {
				// Dropped without fault of the release: offered again.
				return &calledBack{reason: "download: the server stayed busy for " + maxBusyWait.String()}
			}
			// Full jitter, so that the agents turned away together do not
			// all come back together.
			pause = s.scaled(time.Duration(rand64(int64(wait)) + 1))
		} else {
			// A broken download or an unreachable server (restarting, say).
			broken++
			pause = bo.Next()
		}
		if !sleep(ctx, pause) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("download: gave up after %d attempts: %w", maxDownloadAttempts, lastErr)
}

// downloadOnce makes one download attempt. wait is how long the server
// asked to be left alone (0: retry after a short pause).
func (s *Sim) downloadOnce(ctx context.Context, client *http.Client, a *agent, url string, stmt protocol.ReleaseStatement) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", protocol.FormatCredential(a.id, a.secret))
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		s.c.upd.busy.Add(1)
		wait := defaultBusyWait
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(min(secs, 3600)) * time.Second
		}
		return wait, fmt.Errorf("download: server busy (%s)", resp.Status)
	case http.StatusGone:
		return 0, &calledBack{reason: strings.TrimPrefix(errorMessage(resp.Body), ": ")}
	default:
		return 0, fmt.Errorf("download: server answered %s%s", resp.Status, errorMessage(resp.Body))
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(resp.Body, stmt.Size+1))
	s.c.upd.downloaded.Add(n)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	if n != stmt.Size {
		return 0, fmt.Errorf("download: got %d bytes, the release has %d", n, stmt.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, stmt.SHA256) {
		return 0, errors.New("download: the file's SHA-256 is not the signed one")
	}
	return 0, nil
}

// reportUpdate sends an update step on the agent's current connection,
// or keeps it for the next one. The lock keeps the reports in order with
// those flushUpdates sends.
func (s *Sim) reportUpdate(a *agent, st protocol.UpdateStatus) {
	st.At = time.Now().UTC()
	a.mu.Lock()
	defer a.mu.Unlock()
	if sess := a.sess.Load(); sess != nil && len(a.upd.unsent) == 0 {
		if s.write(sess, protocol.TypeUpdateStatus, sess.seq.Add(1), st) == nil {
			return
		}
	}
	if len(a.upd.unsent) == maxUnsent {
		a.upd.unsent = a.upd.unsent[1:]
		s.c.upd.lost.Add(1)
	}
	a.upd.unsent = append(a.upd.unsent, st)
}

// flushUpdates sends the reports kept while the agent was not connected.
func (s *Sim) flushUpdates(a *agent, sess *session) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.upd.unsent) > 0 {
		if s.write(sess, protocol.TypeUpdateStatus, sess.seq.Add(1), a.upd.unsent[0]) != nil {
			return
		}
		a.upd.unsent = a.upd.unsent[1:]
	}
}

// restartIfSwapped restarts the agent when an update swapped while sess
// was being set up, after its hello named the previous version: the real
// agent restarts after a swap whether connected or not.
func (s *Sim) restartIfSwapped(a *agent, sess *session) {
	a.mu.Lock()
	swapped := a.upd.version != sess.version
	a.mu.Unlock()
	if swapped {
		a.restart.Store(true)
		sess.ws.Close(websocket.StatusNormalClosure, "restarting on the new version")
	}
}

// hello is the agent's hello: its facts, at the version it runs, with the
// update it waits to have confirmed.
func (s *Sim) hello(a *agent) protocol.Facts {
	f := s.factsOf(a.index)
	a.mu.Lock()
	if a.upd.version != "" {
		f.AgentVersion = a.upd.version
	}
	if p := a.upd.pending; p != nil {
		f.Update = new(*p)
	}
	a.mu.Unlock()
	return f
}

// welcomed notes the welcome's confirmation of the hello's update.
func (s *Sim) welcomed(a *agent, w protocol.Welcome) {
	if w.UpdateConfirmed == "" {
		return
	}
	a.mu.Lock()
	confirmed := a.upd.pending != nil && a.upd.pending.ReleaseID == w.UpdateConfirmed
	if confirmed {
		a.upd.pending = nil
	}
	a.mu.Unlock()
	if confirmed {
		s.c.upd.confirmed.Add(1)
	}
}

// scaled applies Config.Update.TimeScale to a wait the server asked for.
func (s *Sim) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.Update.TimeScale)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// truncateReason keeps a reason within the protocol's bound.
func truncateReason(s string) string {
	if len(s) > protocol.MaxReasonLen {
		s = s[:protocol.MaxReasonLen]
	}
	return s
}

// UpdateStats count the simulated agents' updates.
type UpdateStats struct {
	Offered    int64 // offers taken
	Refused    int64 // offers refused (not newer, or another under way)
	Swapped    int64 // updates that reached the swap
	Confirmed  int64 // swaps the server confirmed in a welcome
	Failed     int64 // updates that failed or were rolled back
	Cancelled  int64 // offers the server called back before the download
	Waited     int64 // updates that waited for their maintenance window
	Downloaded int64 // release bytes downloaded
	Busy       int64 // download attempts the server turned away as busy
	Lost       int64 // step reports dropped: the agent was not connected
}

func (c *updateCounters) stats() UpdateStats {
	return UpdateStats{Offered: c.offered.Load(), Refused: c.refused.Load(), Swapped: c.swapped.Load(),
		Confirmed: c.confirmed.Load(), Failed: c.failed.Load(), Cancelled: c.cancelled.Load(), Waited: c.waited.Load(), Downloaded: c.downloaded.Load(),
		Busy: c.busy.Load(), Lost: c.lost.Load()}
}
