package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
)

// buildAgentVersion builds the agent stamped with version and trusting
// the release key pub.
func buildAgentVersion(t *testing.T, dir, version, pub string) string {
	t.Helper()
	bin(t, "steward-agent") // skips in -short mode
	root, _ := filepath.Abs("../..")
	out := filepath.Join(dir, "steward-agent-"+version)
	ldflags := fmt.Sprintf("-X github.com/steward-rmm/steward/internal/agent.Version=%s -X 'github.com/steward-rmm/steward/internal/agent.ReleaseKeys=%s'", version, pub)
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", out, "./cmd/steward-agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent %s: %v\n%s", version, err, b)
	}
	return out
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type updatesJSON struct {
	Updates []struct {
		ReleaseID string `json:"release_id"`
		ToVersion string `json:"to_version"`
		Step      string `json:"step"`
		Reason    string `json:"reason"`
	} `json:"updates"`
}

// startUntilCleanup starts cmd and, when the test ends, stops it as a
// service manager would (an interrupt, a kill 20 s later) and, if the
// test failed, logs what logs returns.
func startUntilCleanup(t *testing.T, cmd *exec.Cmd, logs func() string) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Log(logs())
		}
	})
}

// newReleaseKeys makes a release key pair with the release tools and
// returns its directory, the public key's file and its text.
func newReleaseKeys(t *testing.T) (dir, pubFile, pub string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "keys")
	if out, err := exec.Command(bin(t, "steward"), "release", "keygen", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("release keygen: %v\n%s", err, out)
	}
	pubFile = filepath.Join(dir, release.PublicKeyFile)
	b, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return dir, pubFile, strings.TrimSpace(string(b))
}

// updatesByHand turns the automatic rollout off in the default policy:
// only "update now" offers releases.
func updatesByHand(api *apiClient) {
	var manual struct{ ID string }
	api.mustDo("POST", "/api/v1/policies", map[string]any{"name": "Updates by hand", "document": map[string]any{"updates": map[string]any{"auto": false}}}, &manual, 201)
	api.mustDo("PUT", "/api/v1/policy-assignments", map[string]any{"level": "default", "target_id": "", "policy_id": manual.ID}, nil, 200)
}

// installCopy installs a copy of binary at a path of its own, as the
// services run it (an update replaces that file), enrolled with the
// server by token, and returns the installed binary and its config.
func installCopy(t *testing.T, binary, serverURL, token string) (installed, config string) {
	t.Helper()
	installed = filepath.Join(t.TempDir(), "steward-agent")
	copyFile(t, binary, installed)
	config = filepath.Join(t.TempDir(), "agent.json")
	install := exec.Command(installed, "install", "--no-service", "--server", serverURL, "--token", "-", "--config", config)
	install.Stdin = strings.NewReader(token + "\n")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	return installed, config
}

// rolesJSON is what GET /api/v1/agents/{id}/updates says each role runs.
type rolesJSON struct {
	Roles map[string]string `json:"roles"`
	Agree bool              `json:"roles_agree"`
}

// waitTrayRole waits until the server sees this user's tray on version,
// and returns the tray's role name.
func waitTrayRole(t *testing.T, api *apiClient, agentID, version string) string {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	role := "tray:" + me.Username
	waitFor(t, 30*time.Second, "the server seeing the tray on "+version, func() error {
		var r rolesJSON
		api.mustDo("GET", "/api/v1/agents/"+agentID+"/updates", nil, &r, 200)
		if r.Roles[role] != version {
			return fmt.Errorf("roles %v", r.Roles)
		}
		return nil
	})
	return role
}

// copyFile copies the file from to an executable file to.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// waitUpdateStep waits until the agent's update to release reaches step.
func waitUpdateStep(t *testing.T, api *apiClient, agentID, releaseVersion, step string, timeout time.Duration) string {
	t.Helper()
	var reason string
	waitFor(t, timeout, "update to "+releaseVersion+" "+step, func() error {
		var u updatesJSON
		api.mustDo("GET", "/api/v1/agents/"+agentID+"/updates", nil, &u, 200)
		for _, x := range u.Updates {
			if x.ToVersion == releaseVersion {
				if x.Step == step {
					reason = x.Reason
					return nil
				}
				return fmt.Errorf("step %s (%s)", x.Step, x.Reason)
			}
		}
		return fmt.Errorf("no update to %s yet", releaseVersion)
	})
	return reason
}

// updateRig is a server that trusts a fresh release key, with one agent
// enrolled and installed at 1.0.0 at a path of its own (as the services
// run it), and 1.1.0 built beside it; updates are offered by hand only.
type updateRig struct {
	t         *testing.T
	srv       *server
	api       *apiClient
	keys      string // the release key pair's directory
	pubFile   string
	builds    string
	binA      string // 1.0.0
	binB      string // 1.1.0
	installed string
	config    string
	env       []string
}

func newUpdateRig(t *testing.T) *updateRig {
	t.Helper()
	r := &updateRig{t: t}
	var pub string
	r.keys, r.pubFile, pub = newReleaseKeys(t)
	r.srv = startServer(t, "", "--release-key", r.pubFile)
	var token string
	r.api, token, _ = faultSite(t, r.srv)
	updatesByHand(r.api)

	r.builds = t.TempDir()
	r.binA = buildAgentVersion(t, r.builds, "1.0.0", pub)
	r.binB = buildAgentVersion(t, r.builds, "1.1.0", pub)
	r.installed, r.config = installCopy(t, r.binA, r.srv.URL, token)
	r.env = agentEnv(t, r.config)
	return r
}

// install puts a copy of build at the installed path.
func (r *updateRig) install(build string) {
	r.t.Helper()
	copyFile(r.t, build, r.installed)
}

// updateDir is the agent's update state directory.
func (r *updateRig) updateDir() string { return filepath.Join(filepath.Dir(r.config), "update") }

// publishB signs and publishes 1.1.0 with the release tools, as a release
// manager does, and returns its release ID.
func (r *updateRig) publishB() string {
	t := r.t
	t.Helper()
	if out, err := exec.Command(bin(t, "steward"), "release", "sign", "--key", filepath.Join(r.keys, release.PrivateKeyFile),
		"--version", "1.1.0", r.binB).CombinedOutput(); err != nil {
		t.Fatalf("release sign: %v\n%s", err, out)
	}
	if _, err := r.srv.cli("", "release", "publish", "--file", r.binB, "--release-key", r.pubFile, "--channel", "stable"); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct{ ID, Version string }
	}
	r.api.mustDo("GET", "/api/v1/releases?version=1.1.0", nil, &list, 200)
	if len(list.Items) != 1 {
		t.Fatalf("releases of version 1.1.0: %+v", list.Items)
	}
	return list.Items[0].ID
}

// watchdogProc is `steward-agent watchdog --supervise` run from the
// installed binary, with the agent it supervises.
type watchdogProc struct {
	cmd  *exec.Cmd
	done chan error
	log  *logBuffer
}

// startWatchdog starts the watchdog; it is stopped when the test ends, if
// not before, and its log (with the agent's) shown if the test failed.
func (r *updateRig) startWatchdog() *watchdogProc {
	t := r.t
	t.Helper()
	w := &watchdogProc{log: &logBuffer{}, done: make(chan error, 1)}
	w.cmd = exec.Command(r.installed, "watchdog", "--supervise", "--config", r.config)
	w.cmd.Env = r.env
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		w.stop()
		if t.Failed() {
			t.Logf("watchdog and agent log (pid %d):\n%s", w.cmd.Process.Pid, w.log.String())
		}
	})
	return w
}

// stop stops the watchdog as its service manager would (it stops the
// agent first) and waits for it; a second call does nothing.
func (w *watchdogProc) stop() {
	if w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		w.cmd.Process.Kill()
		<-w.done
	}
}

// TestAgentUpdate updates a real agent under its supervising watchdog from
// 1.0.0 to 1.1.0 through a signed release, then offers 1.2.0, which cannot
// start: the watchdog rolls it back to 1.1.0, and 1.2.0 is not offered
// there again.
func TestAgentUpdate(t *testing.T) {
	r := newUpdateRig(t)
	api, srv, installed, binB, keys, builds := r.api, r.srv, r.installed, r.binB, r.keys, r.builds
	wd := r.startWatchdog()
	log := wd.log
	agent := waitAgent(t, api, true)
	if agent.Version != "1.0.0" {
		t.Fatalf("agent runs %q, want 1.0.0", agent.Version)
	}
	// A user's tray, which restarts on the new binary after the swap.
	startTray(t, installed, r.config)
	trayRole := waitTrayRole(t, api, agent.ID, "1.0.0")

	r.publishB()
	var sum struct {
		Offered int `json:"offered"`
	}
	api.mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{}, &sum, 202)
	if sum.Offered != 1 {
		t.Fatalf("offered %d", sum.Offered)
	}
	waitUpdateStep(t, api, agent.ID, "1.1.0", "confirmed", 90*time.Second)
	waitFor(t, 30*time.Second, "the agent online on 1.1.0", func() error {
		if got := waitAgent(t, api, true); got.Version != "1.1.0" {
			return fmt.Errorf("version %s", got.Version)
		}
		return nil
	})
	if fileSHA(t, installed) != fileSHA(t, binB) {
		t.Error("the installed binary is not 1.1.0")
	}
	// The watchdog ran 1.0.0 until the update was confirmed (it is what
	// rolls back); then it executes itself again on 1.1.0.
	waitFor(t, 60*time.Second, "the watchdog running 1.1.0", func() error {
		exe := fmt.Sprintf("/proc/%d/exe", wd.cmd.Process.Pid)
		target, err := os.Readlink(exe)
		if err != nil {
			return err
		}
		if target != installed {
			return fmt.Errorf("the watchdog runs %s", target)
		}
		if fileSHA(t, exe) != fileSHA(t, binB) {
			return errors.New("the watchdog's image is not 1.1.0")
		}
		return nil
	})
	waitAgent(t, api, true)
	waitFor(t, 60*time.Second, "the server seeing the watchdog and the tray on 1.1.0", func() error {
		var r rolesJSON
		api.mustDo("GET", "/api/v1/agents/"+agent.ID+"/updates", nil, &r, 200)
		if !r.Agree || r.Roles["watchdog"] != "1.1.0" || r.Roles[trayRole] != "1.1.0" {
			return fmt.Errorf("roles %v", r.Roles)
		}
		return nil
	})
	updateDir := r.updateDir()
	waitFor(t, 10*time.Second, "backup and downloads removed", func() error {
		if _, err := os.Stat(installed + ".previous"); !os.IsNotExist(err) {
			return fmt.Errorf("backup still there: %v", err)
		}
		entries, _ := os.ReadDir(updateDir)
		if len(entries) != 1 || entries[0].Name() != "update.json" {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return fmt.Errorf("update dir holds %v", names)
		}
		return nil
	})

	// 1.2.0 passes its self-check but exits at once when run.
	script := "#!/bin/sh\nif [ \"$1\" = version ]; then echo 1.2.0; exit 0; fi\necho 'broken build' >&2\nexit 1\n"
	publishBytes(t, srv, api, keys, builds, protocol.ReleaseStatement{Version: "1.2.0", OS: runtime.GOOS, Arch: runtime.GOARCH}, []byte(script))
	api.mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{}, &sum, 202)
	if sum.Offered != 1 {
		t.Fatalf("offered 1.2.0 to %d agents", sum.Offered)
	}
	reason := waitUpdateStep(t, api, agent.ID, "1.2.0", "rolled_back", 3*time.Minute)
	if !strings.Contains(reason, "failed to start") && !strings.Contains(reason, "not confirmed") {
		t.Errorf("rollback reason %q", reason)
	}
	waitFor(t, 60*time.Second, "the agent back online on 1.1.0", func() error {
		if got := waitAgent(t, api, true); got.Version != "1.1.0" {
			return fmt.Errorf("version %s", got.Version)
		}
		return nil
	})
	if fileSHA(t, installed) != fileSHA(t, binB) {
		t.Error("after the rollback the installed binary is not 1.1.0")
	}
	// Not offered again unless asked.
	var again struct {
		Offered int            `json:"offered"`
		Skipped map[string]int `json:"skipped"`
	}
	api.mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{}, &again, 202)
	if again.Offered != 0 || len(again.Skipped) != 1 {
		t.Errorf("offer after the rollback: %+v", again)
	}
	if !bytes.Contains([]byte(log.String()), []byte("rolling back the agent update")) {
		t.Error("the watchdog's log does not say it rolled back")
	}
}
