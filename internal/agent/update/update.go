// Package update replaces the agent's binary with a signed release and
// undoes it when the new version does not come back: download (resumable)
// → verify size, SHA-256 and signature → the staged binary's self-check →
// keep the current binary as the backup → swap → restart through the
// service manager. The server confirms the new version in the handshake;
// until then the backup stays, and the watchdog restores it when the
// deadline passes or the new version keeps failing to start.
//
// There is no helper script and no detached process: every step is this
// package, run by the agent (apply, confirm) or the watchdog (roll back).
package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/protocol"
)

// MaxStartsUnconfirmed is how many times the new version may start without
// being confirmed before the watchdog rolls it back, deadline or not.
const MaxStartsUnconfirmed = 3

// selfCheckTimeout bounds the staged binary's self-check.
const selfCheckTimeout = 60 * time.Second

// ErrRestart is returned by Apply once the new binary is in place: the
// agent must exit with its restart code so that the service manager starts
// the new one.
var ErrRestart = errors.New("the agent binary was updated; restart")

// Refused is an offer the agent does not take; Reason is reported.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return "update refused: " + r.Reason }

// Cancelled says that the server called the offer back before the
// download (the release's rollout was halted, or it was withdrawn): the
// agent drops it, and it is no failure of this version here.
type Cancelled struct{ Reason string }

func (c *Cancelled) Error() string { return "update called back: " + c.Reason }

// Busy says that the server serves as many downloads as it allows; try
// again after Wait.
type Busy struct{ Wait time.Duration }

func (b *Busy) Error() string { return fmt.Sprintf("the server is busy; retry in %v", b.Wait) }

// Updater applies updates to one installed agent.
type Updater struct {
	// Binary is the installed binary an update replaces: the path the
	// services run.
	Binary string
	// Dir holds the update state and downloads.
	Dir string
	// Config is the agent's config file, given to the staged binary's
	// self-check.
	Config string
	// Version is the version running now.
	Version string
	// GOOS and GOARCH are the platform releases must be built for.
	GOOS, GOARCH string
	// Keys are the release public keys the agent trusts.
	Keys []protocol.ReleaseKey

	// ServerURL and Authorization reach the download endpoint.
	ServerURL     string
	Authorization string
	Client        *http.Client

	// Report sends a status to the server; best effort.
	Report func(protocol.UpdateStatus)
	Log    *slog.Logger
	Now    func() time.Time
	// SelfCheck runs the staged binary and returns the version it says it
	// is; nil runs "BINARY version --check --config CONFIG".
	SelfCheck func(ctx context.Context, binary, config string) (string, error)

	// swapStrategy overrides the OS's way of replacing the binary (tests
	// run both on one OS).
	swapStrategy strategy
	// crash, if set, is called before each step of a swap or a rollback;
	// tests panic there to leave the files as a kill -9 would.
	crash func(step string)
}

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

func (u *Updater) report(s protocol.UpdateStatus) {
	s.At = u.now().UTC()
	if u.Report != nil {
		u.Report(s)
	}
}

// running is the version running now as a release version: release
// builds stamp "1.2.3" or "v1.2.3"; anything else (a dev build) is older
// than every release.
func (u *Updater) running() string { return strings.TrimPrefix(u.Version, "v") }

// Check decides whether an offer may be taken, without touching anything.
func (u *Updater) Check(offer protocol.UpdateOffer, st State) error {
	rel := offer.Release
	keys, errs := protocol.ApplyKeyStatements(u.Keys, offer.Keys)
	for _, err := range errs {
		u.Log.Warn("ignoring a release key statement", "err", err)
	}
	if err := protocol.VerifyRelease(keys, rel); err != nil {
		return &Refused{Reason: err.Error()}
	}
	s := rel.Statement
	if s.OS != u.GOOS || s.Arch != u.GOARCH {
		return &Refused{Reason: fmt.Sprintf("release is for %s/%s, this agent runs on %s/%s", s.OS, s.Arch, u.GOOS, u.GOARCH)}
	}
	if protocol.ValidVersion(u.running()) && protocol.CompareVersions(s.Version, u.running()) <= 0 {
		if offer.Rollback == nil {
			return &Refused{Reason: fmt.Sprintf("release %s is not newer than the running %s, and no signed rollback instruction allows it", s.Version, u.running())}
		}
		if err := protocol.VerifyRollback(keys, *offer.Rollback, s); err != nil {
			return &Refused{Reason: fmt.Sprintf("release %s is older than the running %s: %v", s.Version, u.running(), err)}
		}
		if s.Version == u.running() {
			return &Refused{Reason: fmt.Sprintf("release %s is the version running", s.Version)}
		}
	}
	if why, failed := st.Failed[s.Version]; failed && !offer.Retry {
		return &Refused{Reason: fmt.Sprintf("%s failed here before (%s); not retried until asked", s.Version, why)}
	}
	if st.Pending != nil {
		return &Refused{Reason: fmt.Sprintf("the update to %s is still %s", st.Pending.ToVersion, st.Pending.Phase)}
	}
	return nil
}

// Apply takes an offer through download, verification and swap. It
// returns ErrRestart when the new binary is in place, a *Refused when the
// offer is not taken, a *Busy when the server asks to come back later,
// and another error when a step failed (the agent runs on unchanged).
func (u *Updater) Apply(ctx context.Context, offer protocol.UpdateOffer) error {
	st, err := LoadState(u.Dir)
	if err != nil {
		return err
	}
	s := offer.Release.Statement
	status := protocol.UpdateStatus{ReleaseID: offer.ReleaseID, FromVersion: u.Version, ToVersion: s.Version}
	if err := u.Check(offer, st); err != nil {
		status.Step, status.Reason = protocol.UpdateRefused, err.(*Refused).Reason
		u.report(status)
		return err
	}
	fail := func(step string, err error, log string) error {
		status.Step, status.Reason, status.Log, status.Done, status.Total = protocol.UpdateFailed, step+": "+err.Error(), log, 0, 0
		u.report(status)
		return fmt.Errorf("update to %s: %s: %w", s.Version, step, err)
	}

	part, err := u.download(ctx, offer, status)
	var (
		busy      *Busy
		cancelled *Cancelled
	)
	if errors.As(err, &busy) {
		return err
	}
	if errors.As(err, &cancelled) {
		status.Step, status.Reason, status.Done, status.Total = protocol.UpdateCancelled, cancelled.Reason, 0, 0
		u.report(status)
		return err
	}
	if err != nil {
		return fail("download", err, "")
	}
	staged, err := u.stage(part, s)
	if err != nil {
		os.Remove(part)
		return fail("verify", err, "")
	}
	os.Remove(part)
	check := u.SelfCheck
	if check == nil {
		check = runSelfCheck
	}
	cctx, cancel := context.WithTimeout(ctx, selfCheckTimeout)
	said, err := check(cctx, staged, u.Config)
	cancel()
	if err != nil {
		os.Remove(staged)
		return fail("self-check", err, said)
	}
	if said != s.Version {
		os.Remove(staged)
		return fail("self-check", fmt.Errorf("the new binary says it is %q, the release is %s", said, s.Version), "")
	}
	status.Step = protocol.UpdateVerified
	u.report(status)

	deadline := time.Duration(offer.ConfirmDeadline)
	if deadline <= 0 {
		deadline = protocol.DefaultConfirmDeadline
	}
	p := &Pending{
		Phase: PhaseSwapping, ReleaseID: offer.ReleaseID, FromVersion: u.Version, ToVersion: s.Version,
		ToSHA256: s.SHA256, Backup: backupPath(u.Binary),
	}
	st.Pending = p
	if err := SaveState(u.Dir, st); err != nil {
		os.Remove(staged)
		return fail("swap", err, "")
	}
	if err := u.swap(u.Binary, staged, p.Backup); err != nil {
		if _, serr := os.Stat(u.Binary); serr != nil {
			// Neither binary could be put back: the state keeps saying
			// swapping, and the watchdog or the next start restores one
			// (Repair).
			return fail("swap", err, "")
		}
		os.Remove(staged)
		st.Pending = nil
		if serr := SaveState(u.Dir, st); serr != nil {
			u.Log.Error("clear the update state after a failed swap", "err", serr)
		}
		return fail("swap", err, "")
	}
	u.at(stepSave)
	p.Phase, p.SwappedAt = PhaseSwapped, u.now().UTC()
	p.Deadline = p.SwappedAt.Add(deadline)
	if err := SaveState(u.Dir, st); err != nil {
		// The new binary is in place: the state still says swapping, which
		// the next start completes (it finds the new binary there).
		u.Log.Error("record the swapped update", "err", err)
	}
	status.Step = protocol.UpdateSwapped
	u.report(status)
	return ErrRestart
}

// backupPath names where the previous binary is kept until the new one is
// confirmed: beside it, so that the swap is a rename on one volume.
func backupPath(binary string) string {
	ext := filepath.Ext(binary)
	return strings.TrimSuffix(binary, ext) + ".previous" + ext
}

// stagedPath names the new binary beside the installed one.
func stagedPath(binary string) string {
	ext := filepath.Ext(binary)
	return strings.TrimSuffix(binary, ext) + ".new" + ext
}

// stage checks the downloaded file against the signed statement and copies
// it beside the installed binary (same volume: the swap is a rename),
// executable, flushed to disk.
func (u *Updater) stage(part string, s protocol.ReleaseStatement) (string, error) {
	f, err := os.Open(part)
	if err != nil {
		return "", err
	}
	defer f.Close()
	staged := stagedPath(u.Binary)
	out, err := os.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", staged, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(f, s.Size+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(staged, 0o755) // the umask may have taken bits off
	}
	switch {
	case err != nil:
		os.Remove(staged)
		return "", fmt.Errorf("write %s: %w", staged, err)
	case n != s.Size:
		os.Remove(staged)
		return "", fmt.Errorf("downloaded %d bytes, the release has %d", n, s.Size)
	case hex.EncodeToString(h.Sum(nil)) != s.SHA256:
		os.Remove(staged)
		return "", fmt.Errorf("SHA-256 %s differs from the signed %s", hex.EncodeToString(h.Sum(nil)), s.SHA256)
	}
	return staged, nil
}

// partPath is the download of a release, kept across restarts so that it
// resumes.
func (u *Updater) partPath(s protocol.ReleaseStatement) string {
	return filepath.Join(u.Dir, "download-"+s.SHA256[:16]+".part")
}

// download fetches the release into the update directory, resuming a part
// left by an earlier attempt, and reports progress.
func (u *Updater) download(ctx context.Context, offer protocol.UpdateOffer, status protocol.UpdateStatus) (string, error) {
	s := offer.Release.Statement
	if err := os.MkdirAll(u.Dir, 0o700); err != nil {
		return "", fmt.Errorf("create update directory: %w", err)
	}
	part := u.partPath(s)
	var have int64
	if fi, err := os.Stat(part); err == nil && fi.Size() <= s.Size {
		have = fi.Size()
	} else if err == nil {
		os.Remove(part) // longer than the release: not this file
	}
	status.Step, status.Total, status.Done = protocol.UpdateDownloading, s.Size, have
	u.report(status)
	if have == s.Size {
		return part, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u.ServerURL, "/")+protocol.ReleaseFilePath+offer.ReleaseID, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", u.Authorization)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		// Only these bytes continue the part: another file starts over.
		req.Header.Set("If-Range", `"`+s.SHA256+`"`)
	}
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	flags := os.O_WRONLY | os.O_CREATE
	switch res.StatusCode {
	case http.StatusPartialContent:
		if !strings.HasPrefix(res.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(have, 10)+"-") {
			return "", fmt.Errorf("the server resumed at %q, not at byte %d", res.Header.Get("Content-Range"), have)
		}
		flags |= os.O_APPEND
	case http.StatusOK:
		flags |= os.O_TRUNC
		have = 0
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		wait := 30 * time.Second
		if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(min(secs, 3600)) * time.Second
		}
		return "", &Busy{Wait: wait}
	case http.StatusGone:
		var e protocol.ErrorResponse
		if err := json.NewDecoder(io.LimitReader(res.Body, 1024)).Decode(&e); err != nil || e.Error == "" {
			e.Error = "the server no longer offers this release"
		}
		os.Remove(part)
		// The reason goes back to the server in a report it bounds.
		return "", &Cancelled{Reason: truncateReason(e.Error)}
	default:
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return "", fmt.Errorf("download: %s: %s", res.Status, strings.TrimSpace(string(msg)))
	}
	f, err := os.OpenFile(part, flags, 0o600)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", part, err)
	}
	w := &progressWriter{u: u, status: status, done: have, every: max(s.Size/4, 1)}
	_, err = io.Copy(io.MultiWriter(f, w), io.LimitReader(res.Body, s.Size-have+1))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	return part, nil
}

// progressWriter reports download progress about every quarter.
type progressWriter struct {
	u      *Updater
	status protocol.UpdateStatus
	done   int64
	every  int64
	next   int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.next == 0 {
		p.next = p.done + p.every
	}
	if p.done >= p.next {
		p.next = p.done + p.every
		p.status.Done = p.done
		p.u.report(p.status)
	}
	return len(b), nil
}

// runSelfCheck runs "BINARY version --check --config CONFIG", which loads
// the config and prints the version alone.
func runSelfCheck(ctx context.Context, binary, config string) (string, error) {
	args := []string{"version", "--check"}
	if config != "" {
		args = append(args, "--config", config)
	}
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	said := strings.TrimSpace(string(out))
	if len(said) > 2000 {
		said = said[:2000]
	}
	if err != nil {
		return said, fmt.Errorf("%s version --check: %w", filepath.Base(binary), err)
	}
	return strings.TrimPrefix(said, "v"), nil
}

// truncateReason bounds a reason the server gave to what an update report
// carries, as valid UTF-8 without control characters.
func truncateReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	const limit = 256
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
