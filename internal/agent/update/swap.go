package update

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// strategy is how the installed binary is replaced and put back. Both
// are plain functions of paths, so that each can be tested on any OS.
type strategy int

const (
	// native is the strategy of the OS the agent runs on (nativeStrategy).
	native strategy = iota
	// atomicReplace (Unix): the backup is a hard link to the installed
	// binary (a copy where links are refused), then the new binary is
	// renamed over the installed path. The path names a whole binary at
	// every instant, so a crash anywhere leaves the old or the new one.
	atomicReplace
	// renameAside (Windows): a running executable cannot be replaced or
	// deleted, only renamed, so it is renamed to the backup and the new
	// binary moved into the freed path. Between the two renames the path
	// is empty: whoever starts next (the watchdog, which keeps running on
	// the old image, or the agent) puts a binary back (Repair, Started).
	renameAside
)

func (u *Updater) strategy() strategy {
	if u.swapStrategy == native {
		return nativeStrategy
	}
	return u.swapStrategy
}

// Steps of a swap and a rollback, named to the crash hook (Updater.crash).
const (
	stepBackup  = "backup"  // before the current binary is kept as the backup
	stepReplace = "replace" // the backup is made; before the new binary goes in
	stepSave    = "save"    // the new binary is in place; before the state says so
	stepAside   = "aside"   // rollback: before the failed binary is moved away
	stepRestore = "restore" // rollback: before the backup goes back in place
)

// at calls the crash hook before a step: tests stop there, as a kill -9
// would, with nothing after it run.
func (u *Updater) at(step string) {
	if u.crash != nil {
		u.crash(step)
	}
}

// swap puts staged in binary's place, keeping binary as backup. An error
// leaves the binary as it was, when it can be put back.
func (u *Updater) swap(binary, staged, backup string) error {
	if err := os.Remove(backup); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove an old backup: %w", err)
	}
	u.at(stepBackup)
	if u.strategy() == atomicReplace {
		if err := linkOrCopy(os.Link, binary, backup); err != nil {
			return fmt.Errorf("keep the current binary as %s: %w", backup, err)
		}
		u.at(stepReplace)
		if err := rename(staged, binary); err != nil {
			os.Remove(backup)
			return fmt.Errorf("move the new binary in: %w", err)
		}
		syncDir(dirOf(binary))
		return nil
	}
	// The running binary can be renamed on every OS (Windows refuses only
	// its deletion and writing to it); if the second rename fails the
	// first is undone.
	if err := rename(binary, backup); err != nil {
		return fmt.Errorf("keep the current binary as %s: %w", backup, err)
	}
	u.at(stepReplace)
	if err := rename(staged, binary); err != nil {
		if uerr := rename(backup, binary); uerr != nil {
			return fmt.Errorf("move the new binary in: %w; and putting the old one back failed: %v", err, uerr)
		}
		return fmt.Errorf("move the new binary in: %w", err)
	}
	syncDir(dirOf(binary))
	return nil
}

// restore puts the backup back in binary's place; the binary it replaces
// is moved to failed where it cannot simply be replaced (Windows keeps a
// running image, which can only be renamed).
func (u *Updater) restore(binary, backup, failed string) error {
	os.Remove(failed)
	if u.strategy() == atomicReplace {
		u.at(stepRestore)
		if err := rename(backup, binary); err != nil {
			return fmt.Errorf("restore %s: %w", backup, err)
		}
		syncDir(dirOf(binary))
		return nil
	}
	u.at(stepAside)
	if err := rename(binary, failed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move the failed binary aside: %w", err)
	}
	u.at(stepRestore)
	if err := rename(backup, binary); err != nil {
		rename(failed, binary) // leave a binary in place whatever happens
		return fmt.Errorf("restore %s: %w", backup, err)
	}
	syncDir(dirOf(binary))
	return nil
}

// linkOrCopy makes backup a second name of binary, or a copy of it where
// the file system refuses hard links (EPERM on some, EXDEV cannot happen
// in one directory but is handled the same way). The copy is flushed
// before it counts, since the rollback may need it after a power loss.
func linkOrCopy(link func(oldname, newname string) error, binary, backup string) error {
	lerr := link(binary, backup)
	if lerr == nil {
		return nil
	}
	if err := copyFile(binary, backup); err != nil {
		os.Remove(backup)
		return fmt.Errorf("link: %v; copy: %w", lerr, err)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(to, fi.Mode().Perm()) // the umask may have taken bits off
	}
	return err
}
