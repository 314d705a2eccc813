package update

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// errCrash is what the crash hook panics with: nothing after the step runs,
// as after a kill -9.
var errCrash = errors.New("killed")

// crashAt runs fn with the updater stopped dead before step, and fails the
// test if fn never reached it.
func crashAt(t *testing.T, u *Updater, step string, fn func()) {
	t.Helper()
	u.crash = func(s string) {
		if s == step {
			panic(errCrash)
		}
	}
	crashed := func() (crashed bool) {
		defer func() {
			if r := recover(); r != nil {
				if r != errCrash {
					panic(r)
				}
				crashed = true
			}
		}()
		fn()
		return false
	}()
	u.crash = nil
	if !crashed {
		t.Fatalf("never reached the step %q", step)
	}
}

// strategies are the ways of replacing the binary testable here: both on
// Unix (the Windows one is plain renames); on Windows only its own, since a
// rename there never replaces a file.
func strategies() []strategy {
	if runtime.GOOS == "windows" {
		return []strategy{renameAside}
	}
	return []strategy{atomicReplace, renameAside}
}

func (s strategy) String() string {
	return map[strategy]string{native: "native", atomicReplace: "atomic_replace", renameAside: "rename_aside"}[s]
}

// contents reads path, "" when it is missing.
func contents(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pendingPhase is the phase of the pending update in dir, "" for none.
func pendingPhase(t *testing.T, dir string) string {
	t.Helper()
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending == nil {
		return ""
	}
	return st.Pending.Phase
}

// restartAfterCrash does what happens after a kill: the watchdog, which
// outlived the agent, repairs the binary path before it starts the agent;
// then the agent starts on whatever binary is there, as that version.
func restartAfterCrash(t *testing.T, f *fixture) (*protocol.PendingUpdate, *protocol.UpdateStatus) {
	t.Helper()
	if _, err := f.u.Repair(); err != nil {
		t.Fatalf("Repair: %v", err)
	}
	bin := contents(t, f.u.Binary)
	if bin == "" {
		t.Fatal("after the repair there is still no binary to start")
	}
	f.u.Version = strings.TrimPrefix(bin, "version ")
	pending, rolled, err := f.u.Started()
	if err != nil {
		t.Fatalf("Started: %v", err)
	}
	return pending, rolled
}

// TestSwapKilled kills the update at every step of the swap, on both ways
// of swapping, and restarts: the agent comes back on the old version or
// the new one, never on no binary, and the update is either pending
// confirmation or can be taken again.
func TestSwapKilled(t *testing.T) {
	for _, s := range strategies() {
		for _, tt := range []struct {
			step string
			// what the binary path holds right after the kill, "" empty
			left map[strategy]string
			want string // the version the agent comes back on
		}{
			{stepBackup, map[strategy]string{atomicReplace: "version 1.0.0", renameAside: "version 1.0.0"}, "1.0.0"},
			{stepReplace, map[strategy]string{atomicReplace: "version 1.0.0", renameAside: ""}, "1.0.0"},
			{stepSave, map[strategy]string{atomicReplace: "version 1.1.0", renameAside: "version 1.1.0"}, "1.1.0"},
		} {
			t.Run(s.String()+"/before_"+tt.step, func(t *testing.T) {
				f := newFixture(t)
				f.u.swapStrategy = s
				newBin := []byte("version 1.1.0")
				f.rs.serve("r1", newBin)
				offer := offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)
				crashAt(t, f.u, tt.step, func() { f.u.Apply(t.Context(), offer) })

				if got := contents(t, f.u.Binary); got != tt.left[s] {
					t.Fatalf("after the kill the binary holds %q, want %q", got, tt.left[s])
				}
				st, _ := LoadState(f.u.Dir)
				if st.Pending == nil || st.Pending.Phase != PhaseSwapping {
					t.Fatalf("after the kill the state is %+v, want swapping", st.Pending)
				}

				pending, rolled := restartAfterCrash(t, f)
				if f.u.Version != tt.want {
					t.Fatalf("came back on %s, want %s", f.u.Version, tt.want)
				}
				if rolled != nil {
					t.Errorf("a rollback reported: %+v", rolled)
				}
				if tt.want == "1.1.0" {
					// On the new version: it asks for its confirmation.
					if pending == nil || pending.ReleaseID != "r1" {
						t.Fatalf("pending %+v, want r1", pending)
					}
					if err := f.u.Confirmed("r1"); err != nil {
						t.Fatal(err)
					}
					for _, p := range Leftovers(f.u.Binary) {
						if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
							t.Errorf("%s left after the confirmation", p)
						}
					}
					return
				}
				// On the old version: nothing pending, nothing left behind,
				// and the offer is taken again.
				if pending != nil {
					t.Fatalf("pending %+v on the old version", pending)
				}
				f.u.RemoveLeftovers()
				for _, p := range Leftovers(f.u.Binary) {
					if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("%s left after the restart", p)
					}
				}
				if err := f.u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
					t.Fatalf("the offer again: Apply = %v, want ErrRestart", err)
				}
				if got := contents(t, f.u.Binary); got != "version 1.1.0" {
					t.Errorf("after the second try the binary holds %q", got)
				}
				if got := contents(t, backupPath(f.u.Binary)); got != "version 1.0.0" {
					t.Errorf("after the second try the backup holds %q", got)
				}
			})
		}
	}
}

// TestRollbackKilled kills the watchdog's rollback at every step: the next
// watchdog finishes it, and the agent comes back on the old version and
// reports the rollback.
func TestRollbackKilled(t *testing.T) {
	for _, s := range strategies() {
		steps := []string{stepRestore, stepSave}
		if s == renameAside {
			steps = []string{stepAside, stepRestore, stepSave}
		}
		for _, step := range steps {
			t.Run(s.String()+"/before_"+step, func(t *testing.T) {
				f := newFixture(t)
				f.u.swapStrategy = s
				newBin := []byte("version 1.1.0")
				f.rs.serve("r1", newBin)
				offer := offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)
				offer.ConfirmDeadline = protocol.Duration(time.Minute)
				if err := f.u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
					t.Fatal(err)
				}
				crashAt(t, f.u, step, func() { f.u.Rollback("not confirmed") })
				if s == atomicReplace && contents(t, f.u.Binary) == "" {
					t.Fatal("the rollback left no binary")
				}

				// The watchdog starts again: it repairs, then rolls back
				// what is still due.
				if _, err := f.u.Repair(); err != nil {
					t.Fatalf("Repair: %v", err)
				}
				if why, due := f.u.RollbackDue(f.now.Add(2 * time.Minute)); due {
					if err := f.u.Rollback(why); err != nil {
						t.Fatalf("Rollback again: %v", err)
					}
				}
				if got := contents(t, f.u.Binary); got != "version 1.0.0" {
					t.Fatalf("binary %q after the rollback, want version 1.0.0", got)
				}
				f.u.Version = "1.0.0"
				pending, rolled, err := f.u.Started()
				if err != nil || pending != nil || rolled == nil || rolled.Step != protocol.UpdateRolledBack {
					t.Fatalf("Started = %+v, %+v, %v; want the rollback reported", pending, rolled, err)
				}
			})
		}
	}
}

// TestRepair covers the layouts a kill can leave with the installed path
// empty, and the one where there is nothing to restore from.
func TestRepair(t *testing.T) {
	newSum := sha256.Sum256([]byte("version 1.1.0"))
	for _, tt := range []struct {
		name       string
		backup     string // "" missing
		staged     string
		phase      string
		wantBinary string
		wantPhase  string
		wantErr    bool
	}{
		{"swap: backup and staged", "version 1.0.0", "version 1.1.0", PhaseSwapping, "version 1.0.0", "", false},
		{"swap: staged only", "", "version 1.1.0", PhaseSwapping, "version 1.1.0", PhaseSwapped, false},
		{"swap: staged not the verified one", "", "version 6.6.6", PhaseSwapping, "", PhaseSwapping, true},
		{"rollback: backup", "version 1.0.0", "", PhaseSwapped, "version 1.0.0", PhaseRolledBack, false},
		{"nothing pending", "version 1.0.0", "", "", "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			backup := backupPath(f.u.Binary)
			os.Remove(f.u.Binary)
			if tt.backup != "" {
				os.WriteFile(backup, []byte(tt.backup), 0o755)
			}
			if tt.staged != "" {
				os.WriteFile(stagedPath(f.u.Binary), []byte(tt.staged), 0o755)
			}
			if tt.phase != "" {
				SaveState(f.u.Dir, State{Pending: &Pending{Phase: tt.phase, ReleaseID: "r1", FromVersion: "1.0.0",
					ToVersion: "1.1.0", ToSHA256: hex.EncodeToString(newSum[:]), Backup: backup,
					SwappedAt: f.now, Deadline: f.now.Add(time.Hour)}})
			}
			did, err := f.u.Repair()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Repair = %q, %v; want error %v", did, err, tt.wantErr)
			}
			if err == nil && did == "" {
				t.Error("Repair says it did nothing")
			}
			if got := contents(t, f.u.Binary); got != tt.wantBinary {
				t.Errorf("binary %q, want %q", got, tt.wantBinary)
			}
			if phase := pendingPhase(t, f.u.Dir); phase != tt.wantPhase {
				t.Errorf("phase %q, want %q", phase, tt.wantPhase)
			}
		})
	}
	t.Run("binary in place", func(t *testing.T) {
		f := newFixture(t)
		if did, err := f.u.Repair(); did != "" || err != nil {
			t.Errorf("Repair = %q, %v; want nothing done", did, err)
		}
	})
}

// TestLinkOrCopy: where the file system refuses a hard link, the backup is
// a flushed copy with the binary's mode.
func TestLinkOrCopy(t *testing.T) {
	dir := t.TempDir()
	bin, backup := dir+"/steward-agent", dir+"/steward-agent.previous"
	if err := os.WriteFile(bin, []byte("version 1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	refuse := func(string, string) error { return &os.LinkError{Op: "link", Err: errors.ErrUnsupported} }
	if err := linkOrCopy(refuse, bin, backup); err != nil {
		t.Fatalf("linkOrCopy with links refused: %v", err)
	}
	if got := contents(t, backup); got != "version 1.0.0" {
		t.Errorf("copy holds %q", got)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("copy mode %v, %v; want 0755", fi.Mode(), err)
		}
	}
	// An existing backup is never overwritten by the copy.
	if err := linkOrCopy(refuse, bin, backup); err == nil {
		t.Error("linkOrCopy over an existing file succeeded")
	}
}
