//go:build linux

package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/steward-rmm/steward/internal/agent/update"
)

// TestAgentUpdateKilledMidSwap kills the agent in the middle of the swap
// of an update from 1.0.0 to 1.1.0, and checks that it comes back on one
// of the two, never on no binary: first by laying out on disk exactly what
// a kill at each step of the swap leaves (the Unix way and the Windows
// way), then with a real SIGKILL sent the moment the update state says
// "swapping".
func TestAgentUpdateKilledMidSwap(t *testing.T) {
	r := newUpdateRig(t)
	releaseID := r.publishB()
	backup, staged := r.installed+".previous", r.installed+".new"
	shaA, shaB := fileSHA(t, r.binA), fileSHA(t, r.binB)
	version := map[string]string{shaA: "1.0.0", shaB: "1.1.0"}

	wd := r.startWatchdog()
	agent := waitAgent(t, r.api, true)
	if agent.Version != "1.0.0" {
		t.Fatalf("agent runs %q, want 1.0.0", agent.Version)
	}

	// (a) What a kill at each step leaves: the state says swapping (it is
	// saved before the first step) and the files are as the step left them.
	// The watchdog outlives the agent (on Windows it is what restores an
	// empty path): it is paused while the agent is killed and the files are
	// laid out, then goes on.
	const link = "link" // the backup is a hard link to the installed binary
	for _, tt := range []struct {
		name                   string
		binary, backup, staged string // the build at each path, "" none
		want                   string
	}{
		{"before the first step", r.binA, "", r.binB, "1.0.0"},
		{"between the steps, Unix (backup linked)", r.binA, link, r.binB, "1.0.0"},
		{"between the steps, Windows (binary renamed to the backup)", "", r.binA, r.binB, "1.0.0"},
		{"after the swap, before the state says so", r.binB, r.binA, "", "1.1.0"},
	} {
		pid := agentChild(t, wd.cmd.Process.Pid, 0)
		if err := wd.cmd.Process.Signal(unix.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		killAgent(t, pid)
		waitPresence(t, r.api, agent.ID, false, 30*time.Second)
		put := func(build, at string) {
			os.Remove(at)
			switch build {
			case "":
			case link:
				if err := os.Link(r.installed, at); err != nil {
					t.Fatal(err)
				}
			default:
				b, err := os.ReadFile(build)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(at, b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		put(tt.binary, r.installed)
		put(tt.backup, backup)
		put(tt.staged, staged)
		if err := update.SaveState(r.updateDir(), update.State{Pending: &update.Pending{Phase: update.PhaseSwapping,
			ReleaseID: releaseID, FromVersion: "1.0.0", ToVersion: "1.1.0", ToSHA256: shaB, Backup: backup}}); err != nil {
			t.Fatal(err)
		}
		if err := wd.cmd.Process.Signal(unix.SIGCONT); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, tt.name+": the agent back online", func() error {
			if got := agentByID(t, r.api, agent.ID); !got.Online || got.Version != tt.want {
				return fmt.Errorf("online %v on %q, want online on %s", got.Online, got.Version, tt.want)
			}
			return nil
		})
		if _, err := os.Stat(r.installed); err != nil {
			t.Fatalf("%s: no installed binary: %v", tt.name, err)
		}
		if v := version[fileSHA(t, r.installed)]; v != tt.want {
			t.Fatalf("%s: the installed binary is %q, want %s", tt.name, v, tt.want)
		}
		if tt.binary == "" && !strings.Contains(wd.log.String(), "restored the agent binary before starting it") {
			t.Errorf("%s: the watchdog does not say it restored the binary", tt.name)
		}
		if tt.want == "1.1.0" {
			waitUpdateStep(t, r.api, agent.ID, "1.1.0", "confirmed", 30*time.Second)
			continue
		}
		// Back on 1.0.0: the interrupted update is forgotten, leaving no
		// file behind, and nothing keeps 1.1.0 from being taken again.
		st, err := update.LoadState(r.updateDir())
		if err != nil || st.Pending != nil || st.Failed["1.1.0"] != "" {
			t.Fatalf("%s: update state %+v, %v; want nothing pending or failed", tt.name, st, err)
		}
		for _, p := range []string{backup, staged} {
			waitFor(t, 10*time.Second, "no "+p, func() error {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("%s: %v", p, err)
				}
				return nil
			})
		}
	}

	// Back to 1.0.0 for the real kill: installed by hand, nothing pending.
	wd.stop()
	waitAgent(t, r.api, false)
	r.install(r.binA)
	if err := update.SaveState(r.updateDir(), update.State{}); err != nil {
		t.Fatal(err)
	}
	wd = r.startWatchdog()
	waitFor(t, 30*time.Second, "the agent online on 1.0.0", func() error {
		if got := waitAgent(t, r.api, true); got.Version != "1.0.0" {
			return fmt.Errorf("version %s", got.Version)
		}
		return nil
	})

	// (b) A real kill -9, the moment the state file says swapping.
	pid := agentChild(t, wd.cmd.Process.Pid, 0)
	ino := watchDir(t, r.updateDir())
	var sum struct {
		Offered int `json:"offered"`
	}
	r.api.mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{}, &sum, 202)
	if sum.Offered != 1 {
		t.Fatalf("offered 1.1.0 to %d agents", sum.Offered)
	}
	ino.waitSwapping(t, r.updateDir(), 60*time.Second)
	killAgent(t, pid)
	// What the kill left, before the watchdog starts the agent again.
	left := version[fileSHA(t, r.installed)]
	_, backupErr := os.Stat(backup)
	t.Logf("killed mid-swap: the installed binary is %q, backup kept: %v", left, backupErr == nil)
	if left == "" {
		t.Fatal("the kill left the installed binary neither 1.0.0 nor 1.1.0")
	}

	// The agent starts on what is in place and settles the swap from it.
	agentChild(t, wd.cmd.Process.Pid, pid)
	waitFor(t, 30*time.Second, "the agent back online on "+left, func() error {
		if got := agentByID(t, r.api, agent.ID); !got.Online || got.Version != left {
			return fmt.Errorf("online %v on %q", got.Online, got.Version)
		}
		return nil
	})
	if left == "1.0.0" {
		// The swap was undone: the update is offered again and goes through.
		r.api.mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{}, &sum, 202)
		if sum.Offered != 1 {
			t.Fatalf("1.1.0 offered again to %d agents, want 1", sum.Offered)
		}
	}
	waitUpdateStep(t, r.api, agent.ID, "1.1.0", "confirmed", 60*time.Second)
	waitFor(t, 30*time.Second, "the agent online on 1.1.0", func() error {
		if got := waitAgent(t, r.api, true); got.Version != "1.1.0" {
			return fmt.Errorf("version %s", got.Version)
		}
		return nil
	})
	if fileSHA(t, r.installed) != shaB {
		t.Error("the installed binary is not 1.1.0")
	}
}

// killAgent sends SIGKILL to the agent and waits until it is dead (a
// zombie until its watchdog reaps it, or gone).
func killAgent(t *testing.T, pid int) {
	t.Helper()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatalf("kill -9 the agent (pid %d): %v", pid, err)
	}
	waitFor(t, 10*time.Second, "the agent killed", func() error {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !bytes.Contains(b, []byte(") Z ")) {
			return errors.New("still running")
		}
		return nil
	})
}

// agentChild returns the PID of the agent the watchdog runs as its child,
// other than not (one that was killed).
func agentChild(t *testing.T, watchdog, not int) int {
	t.Helper()
	var pid int
	waitFor(t, 30*time.Second, "the agent process", func() error {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return err
		}
		for _, e := range entries {
			p, err := strconv.Atoi(e.Name())
			if err != nil || p == not {
				continue
			}
			stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...: comm may hold spaces, so count from its end.
			f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(f) > 1 && f[1] == strconv.Itoa(watchdog) {
				cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				if bytes.Contains(cmdline, []byte("\x00run\x00")) {
					pid = p
					return nil
				}
			}
		}
		return fmt.Errorf("no agent child of the watchdog %d", watchdog)
	})
	return pid
}

// inotify watches a directory for files moved or written into it.
type inotify struct{ f *os.File }

func watchDir(t *testing.T, dir string) *inotify {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify watch %s: %v", dir, err)
	}
	// Non-blocking: the runtime's poller serves it, so reads take a deadline.
	w := &inotify{f: os.NewFile(uintptr(fd), "inotify")}
	t.Cleanup(func() { w.f.Close() })
	return w
}

// waitSwapping returns as soon as the update state in dir says swapping.
// The state is written to a temporary file and renamed over update.json:
// each rename is one event, and the file is read at once.
func (w *inotify) waitSwapping(t *testing.T, dir string, timeout time.Duration) {
	t.Helper()
	w.f.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			t.Fatalf("waiting for the update state to say swapping: %v", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: wd, mask, cookie, len, then len bytes of name.
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+size]), "\x00")
			off += unix.SizeofInotifyEvent + size
			if name != "update.json" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			var st update.State
			if json.Unmarshal(b, &st) == nil && st.Pending != nil && st.Pending.Phase == update.PhaseSwapping {
				return
			}
		}
	}
}
