package update

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Started is called by the agent when it starts, before it connects. It
// finishes or undoes a swap a crash interrupted, counts the start of an
// unconfirmed new version, and returns what the hello must carry (the
// pending update) and what must be reported once connected (a rollback
// the watchdog made). Both may be nil.
func (u *Updater) Started() (*protocol.PendingUpdate, *protocol.UpdateStatus, error) {
	st, err := LoadState(u.Dir)
	if err != nil || st.Pending == nil {
		return nil, nil, err
	}
	p := st.Pending
	if p.Phase == PhaseSwapping {
		if err := u.settleSwap(&st); err != nil {
			return nil, nil, err
		}
		if st.Pending == nil {
			return nil, nil, nil
		}
	}
	switch p.Phase {
	case PhaseSwapped:
		if u.running() != p.ToVersion {
			// Not the new binary (a copy run by hand from elsewhere): it
			// has nothing to confirm.
			return nil, nil, nil
		}
		p.Starts++
		if err := SaveState(u.Dir, st); err != nil {
			return nil, nil, err
		}
		return &protocol.PendingUpdate{ReleaseID: p.ReleaseID, FromVersion: p.FromVersion, ToVersion: p.ToVersion}, nil, nil
	case PhaseRolledBack:
		return nil, &protocol.UpdateStatus{ReleaseID: p.ReleaseID, FromVersion: p.FromVersion, ToVersion: p.ToVersion,
			Step: protocol.UpdateRolledBack, Reason: p.Reason, At: p.SwappedAt}, nil
	}
	return nil, nil, nil
}

// settleSwap resolves a swap that was interrupted: if the new binary is in
// place the update counts as swapped (its deadline starts now); otherwise
// the backup goes back where it was, if it was moved, and the update is
// forgotten (the server offers it again).
func (u *Updater) settleSwap(st *State) error {
	p := st.Pending
	if sum, err := fileSHA256(u.Binary); err == nil && sum == p.ToSHA256 {
		p.Phase, p.SwappedAt = PhaseSwapped, u.now().UTC()
		p.Deadline = p.SwappedAt.Add(protocol.DefaultConfirmDeadline)
		return SaveState(u.Dir, *st)
	}
	if _, err := os.Stat(u.Binary); errors.Is(err, os.ErrNotExist) {
		if err := rename(p.Backup, u.Binary); err != nil {
			return fmt.Errorf("restore %s after an interrupted update: %w", u.Binary, err)
		}
	}
	os.Remove(stagedPath(u.Binary))
	st.Pending = nil
	return SaveState(u.Dir, *st)
}

// Leftovers names the files an update may leave beside the installed
// binary: the previous binary, a failed one, a staged one.
func Leftovers(binary string) []string {
	return []string{backupPath(binary), failedPath(binary), stagedPath(binary)}
}

// RemoveLeftovers deletes a previous binary or a failed one that was
// still running (Windows keeps a running image) when its update ended,
// once no update is pending. It is called at start and after the watchdog
// moved to the new binary; what is still in use stays for the next call.
func (u *Updater) RemoveLeftovers() {
	st, err := LoadState(u.Dir)
	if err != nil || st.Pending != nil {
		return
	}
	for _, p := range Leftovers(u.Binary) {
		if err := os.Remove(p); err == nil {
			u.Log.Info("removed the file of an earlier update", "path", p)
		}
	}
}

// Confirmed is called when the server's welcome confirms releaseID: the
// backup and the update's files go, and the server hears it.
func (u *Updater) Confirmed(releaseID string) error {
	st, err := LoadState(u.Dir)
	if err != nil {
		return err
	}
	p := st.Pending
	if p == nil || p.ReleaseID != releaseID || p.Phase != PhaseSwapped {
		return nil
	}
	if err := os.Remove(p.Backup); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Windows keeps a running image: the watchdog may still run from
		// the backup until it restarts. The next confirmation or update
		// removes it.
		u.Log.Info("the previous binary is still in use; removed later", "path", p.Backup, "err", err)
	}
	u.removeDownloads()
	st.Pending = nil
	delete(st.Failed, p.ToVersion)
	if err := SaveState(u.Dir, st); err != nil {
		return err
	}
	u.report(protocol.UpdateStatus{ReleaseID: p.ReleaseID, FromVersion: p.FromVersion, ToVersion: p.ToVersion, Step: protocol.UpdateConfirmed})
	return nil
}

// RolledBackReported clears a rollback once the server heard of it.
func (u *Updater) RolledBackReported(releaseID string) error {
	st, err := LoadState(u.Dir)
	if err != nil || st.Pending == nil || st.Pending.ReleaseID != releaseID || st.Pending.Phase != PhaseRolledBack {
		return err
	}
	st.Pending = nil
	return SaveState(u.Dir, st)
}

// Swapped reports whether a new binary is in place and not confirmed yet.
func (u *Updater) Swapped() bool {
	st, err := LoadState(u.Dir)
	return err == nil && st.Pending != nil && st.Pending.Phase == PhaseSwapped
}

// RollbackDue says whether the pending update must be rolled back now,
// and why: not confirmed by its deadline, or started too often without a
// confirmation.
func (u *Updater) RollbackDue(now time.Time) (string, bool) {
	st, err := LoadState(u.Dir)
	if err != nil || st.Pending == nil {
		return "", false
	}
	p := st.Pending
	switch {
	case p.Phase == PhaseSwapping:
		// Interrupted mid-swap and nobody started since (the binary may be
		// missing, so nobody can): settle it now.
		if _, err := os.Stat(u.Binary); errors.Is(err, os.ErrNotExist) {
			return "the update was interrupted while the binary was being replaced", true
		}
	case p.Phase != PhaseSwapped:
	case p.Starts > MaxStartsUnconfirmed:
		return fmt.Sprintf("%s started %d times without being confirmed by the server", p.ToVersion, p.Starts), true
	case now.After(p.Deadline):
		return fmt.Sprintf("%s was not confirmed by the server within %v of the swap", p.ToVersion, p.Deadline.Sub(p.SwappedAt).Round(time.Second)), true
	}
	return "", false
}

// Rollback restores the previous binary and records why; the caller (the
// watchdog) then restarts the agent, which reports it. The failed version
// is not taken again unless an offer asks to retry.
func (u *Updater) Rollback(reason string) error {
	st, err := LoadState(u.Dir)
	if err != nil || st.Pending == nil {
		return err
	}
	p := st.Pending
	if p.Phase == PhaseSwapping {
		return u.settleSwap(&st)
	}
	if p.Phase != PhaseSwapped {
		return nil
	}
	if _, err := os.Stat(p.Backup); err != nil {
		return fmt.Errorf("roll back %s: the previous binary %s is gone: %w", p.ToVersion, p.Backup, err)
	}
	failed := failedPath(u.Binary)
	os.Remove(failed)
	if err := rename(u.Binary, failed); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("roll back %s: move the failed binary aside: %w", p.ToVersion, err)
	}
	if err := rename(p.Backup, u.Binary); err != nil {
		rename(failed, u.Binary) // leave a binary in place whatever happens
		return fmt.Errorf("roll back %s: restore %s: %w", p.ToVersion, p.Backup, err)
	}
	syncDir(dirOf(u.Binary))
	// The failed binary may still be running (Windows keeps its image):
	// removed now where possible, else by the next update.
	os.Remove(failed)
	if st.Failed == nil {
		st.Failed = map[string]string{}
	}
	st.Failed[p.ToVersion] = reason
	p.Phase, p.Reason = PhaseRolledBack, reason
	u.removeDownloads()
	return SaveState(u.Dir, st)
}

func failedPath(binary string) string {
	return stagedPath(binary) + ".failed"
}

// removeDownloads deletes finished or abandoned downloads.
func (u *Updater) removeDownloads() {
	entries, err := os.ReadDir(u.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if n := e.Name(); len(n) > 9 && n[:9] == "download-" {
			os.Remove(u.Dir + string(os.PathSeparator) + n)
		}
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
