package update

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// settleSwap resolves a swap that was interrupted. The new binary in
// place: the update counts as swapped (its deadline starts now). Otherwise
// the update is forgotten (the server offers it again), and where the
// installed path is empty (renameAside killed between its two renames)
// the previous binary goes back rather than the staged new one forward:
// the previous one is known to have run here. The staged one is taken only
// when the backup is gone too and it is the binary that was verified.
func (u *Updater) settleSwap(st *State) error {
	p := st.Pending
	staged := stagedPath(u.Binary)
	swapped := func() error {
		p.Phase, p.SwappedAt = PhaseSwapped, u.now().UTC()
		p.Deadline = p.SwappedAt.Add(protocol.DefaultConfirmDeadline)
		return SaveState(u.Dir, *st)
	}
	if sum, err := fileSHA256(u.Binary); err == nil && sum == p.ToSHA256 {
		return swapped()
	}
	if missing(u.Binary) {
		rerr := rename(p.Backup, u.Binary)
		if _, err := os.Stat(u.Binary); err != nil {
			// No backup to restore (and nobody restored it meanwhile).
			if sum, err := fileSHA256(staged); err == nil && sum == p.ToSHA256 && rename(staged, u.Binary) == nil {
				syncDir(dirOf(u.Binary))
				return swapped()
			}
			return fmt.Errorf("restore %s after an interrupted update: %w", u.Binary, rerr)
		}
		syncDir(dirOf(u.Binary))
	}
	os.Remove(staged)
	st.Pending = nil
	return SaveState(u.Dir, *st)
}

// Repair puts a binary back at the installed path when a crash left it
// empty: between the two renames of a swap or a rollback where the OS
// cannot replace a running binary in one step (Windows). The watchdog
// calls it before it starts the agent, since an agent with no binary
// cannot start to do it; it says what it did, "" when the binary is there.
func (u *Updater) Repair() (string, error) {
	if !missing(u.Binary) {
		return "", nil
	}
	st, err := LoadState(u.Dir)
	if err != nil {
		return "", err
	}
	if st.Pending == nil {
		return "", fmt.Errorf("%s is missing and no update is pending to restore it from", u.Binary)
	}
	p := st.Pending
	switch p.Phase {
	case PhaseSwapping:
		if err := u.settleSwap(&st); err != nil {
			return "", err
		}
		if st.Pending != nil {
			return fmt.Sprintf("the update to %s was interrupted after the previous binary was moved aside; the new binary (verified) is now in place", p.ToVersion), nil
		}
		return fmt.Sprintf("the update to %s was interrupted while the binary was being replaced; %s is back in place", p.ToVersion, p.FromVersion), nil
	case PhaseSwapped:
		reason := fmt.Sprintf("the rollback of %s was interrupted; finished when the binary was found missing", p.ToVersion)
		if err := u.Rollback(reason); err != nil {
			return "", err
		}
		return fmt.Sprintf("an interrupted rollback of %s is finished; %s is back in place", p.ToVersion, p.FromVersion), nil
	}
	return "", fmt.Errorf("%s is missing; the update to %s is %s, which never leaves it so", u.Binary, p.ToVersion, p.Phase)
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
		if missing(u.Binary) {
			return "the update was interrupted while the binary was being replaced", true
		}
	case p.Phase != PhaseSwapped:
	case missing(u.Binary):
		return fmt.Sprintf("the rollback of %s was interrupted; the binary is missing", p.ToVersion), true
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
	failed := failedPath(u.Binary)
	if _, err := os.Stat(p.Backup); err != nil {
		// Restored already by a rollback killed before it saved the state:
		// the binary is not the new one any more.
		if sum, serr := fileSHA256(u.Binary); serr != nil || sum == p.ToSHA256 {
			return fmt.Errorf("roll back %s: the previous binary %s is gone: %w", p.ToVersion, p.Backup, err)
		}
	} else if err := u.restore(u.Binary, p.Backup, failed); err != nil {
		return fmt.Errorf("roll back %s: %w", p.ToVersion, err)
	}
	u.at(stepSave)
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

func missing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
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
