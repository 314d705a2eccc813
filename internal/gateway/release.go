package gateway

import (
	"errors"
	"net/http"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// DefaultMaxDownloads bounds the release downloads one replica serves at
// once: a rollout spreads its agents over time, and those that find the
// server busy come back after Retry-After rather than storming it.
const DefaultMaxDownloads = 64

// SetMaxDownloads changes the bound of concurrent release downloads; call
// it before Register.
func (g *Gateway) SetMaxDownloads(n int) { g.downloads = make(chan struct{}, max(n, 1)) }

// downloadRelease serves a release's file to an agent (see
// protocol.ReleaseFilePath), with Range support so that a broken download
// resumes where it stopped.
func (g *Gateway) downloadRelease(w http.ResponseWriter, r *http.Request) {
	ip := access.ClientIP(r, g.trustProxy)
	agent, ok := g.authorizeInstalled(w, r, ip)
	if !ok {
		return
	}
	select {
	case g.downloads <- struct{}{}:
		defer func() { <-g.downloads }()
	default:
		g.hub.CountRejected("download_busy")
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "the server is serving as many downloads as it allows; try again later")
		return
	}
	rel, err := g.db.GetRelease(r.Context(), r.PathValue("id"))
	step := ""
	if err == nil {
		step, err = g.db.UpdateStep(r.Context(), agent.ID, rel.ID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such release")
		return
	case err != nil:
		if !abandoned(r) {
			g.log.Error("download release", "agent_id", agent.ID, "release_id", r.PathValue("id"), "err", err)
			writeError(w, http.StatusInternalServerError, "release not served because of a server error")
		}
		return
	case rel.Status == store.ReleaseWithdrawn:
		// 410: the agent drops the offer as called back, not as failed.
		writeError(w, http.StatusGone, "release "+rel.Version+" was withdrawn")
		return
	case step == store.UpdateCancelled:
		writeError(w, http.StatusGone, "the offer of "+rel.Version+" was called back: its rollout was halted")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-SHA256", rel.SHA256)
	// The ETag lets a resuming agent's If-Range check that the bytes it
	// already has are of this file.
	w.Header().Set("ETag", `"`+rel.SHA256+`"`)
	http.ServeContent(w, r, "", rel.CreatedAt, g.db.OpenRelease(r.Context(), rel))
}
