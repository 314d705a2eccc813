package e2e

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// TestUpdateRefusals offers a real agent at 1.1.0 releases that a
// compromised server could send (the server refuses to publish them, so
// the test edits its database while it runs): a tampered binary, a
// statement altered after signing, an unsigned one, a release for another
// architecture and a downgrade without a signed rollback instruction. The
// agent refuses each with its reason, which the API shows, and goes on
// running 1.1.0 from the same binary.
func TestUpdateRefusals(t *testing.T) {
	keys, pubFile, pub := newReleaseKeys(t)
	srv := startServer(t, "", "--release-key", pubFile)
	api, token, _ := faultSite(t, srv)
	updatesByHand(api)
	installed, config := installCopy(t, buildAgentVersion(t, t.TempDir(), "1.1.0", pub), srv.URL, token)
	proc := startAgentBinary(t, installed, config)
	agent := waitAgent(t, api, true)
	if agent.Version != "1.1.0" {
		t.Fatalf("agent runs %q, want 1.1.0", agent.Version)
	}
	installedSHA := fileSHA(t, installed)

	// A tray in a (headless) user session tells the agent its version,
	// which the server counts among the roles.
	startTray(t, installed, config)
	trayRole := waitTrayRole(t, api, agent.ID, "1.1.0")

	// The server's own database, written behind its back.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.dataDir, store.SQLiteFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec1 := func(t *testing.T, query string, args ...any) {
		t.Helper()
		res, err := db.ExecContext(t.Context(), query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s changed %d rows, want 1", query, n)
		}
	}
	// editStatement rewrites the signed release the server hands agents.
	editStatement := func(t *testing.T, id string, edit func(*protocol.SignedRelease)) {
		t.Helper()
		var raw string
		if err := db.QueryRowContext(t.Context(), `SELECT signature FROM releases WHERE id = $1`, id).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var signed protocol.SignedRelease
		if err := json.Unmarshal([]byte(raw), &signed); err != nil {
			t.Fatalf("stored signed release %q: %v", raw, err)
		}
		edit(&signed)
		exec1(t, `UPDATE releases SET signature = $1 WHERE id = $2`, string(signed.Encode()), id)
	}

	dir := t.TempDir()
	publish := func(t *testing.T, version, arch string) string {
		t.Helper()
		data := fmt.Appendf(nil, "#!/bin/sh\necho %s\n", version)
		return publishBytes(t, srv, api.in(t), keys, dir, protocol.ReleaseStatement{Version: version, OS: runtime.GOOS, Arch: arch}, data)
	}
	offer := func(t *testing.T, body map[string]any) {
		t.Helper()
		var sum struct {
			Offered int            `json:"offered"`
			Skipped map[string]int `json:"skipped"`
		}
		api.in(t).mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", body, &sum, 202)
		if sum.Offered != 1 {
			t.Fatalf("update %v offered to %d agents (skipped %v), want 1", body, sum.Offered, sum.Skipped)
		}
	}
	// unharmed checks that the agent still runs 1.1.0, online, from the
	// binary it was installed with, and left nothing staged beside it.
	unharmed := func(t *testing.T) {
		t.Helper()
		select {
		case err := <-proc.waitErr:
			proc.waitErr <- err
			t.Fatalf("the agent exited: %v", err)
		default:
		}
		if a := agentByID(t, api.in(t), agent.ID); !a.Online || a.Version != "1.1.0" {
			t.Errorf("agent online=%v version %q, want online on 1.1.0", a.Online, a.Version)
		}
		if got := fileSHA(t, installed); got != installedSHA {
			t.Errorf("installed binary SHA-256 %s, want the unchanged %s", got, installedSHA)
		}
		var r rolesJSON
		api.in(t).mustDo("GET", "/api/v1/agents/"+agent.ID+"/updates", nil, &r, 200)
		if r.Roles[trayRole] != "1.1.0" || !r.Agree {
			t.Errorf("roles %v, agree %v; want all on 1.1.0 with the tray", r.Roles, r.Agree)
		}
		for _, left := range []string{installed + ".new", installed + ".previous"} {
			if _, err := os.Stat(left); !os.IsNotExist(err) {
				t.Errorf("%s is there after a refused update (%v)", left, err)
			}
		}
	}
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}

	tests := []struct {
		name    string
		version string
		arch    string // signed for; "" is this machine's
		// tamper turns a properly published release into what a
		// compromised server offers, and returns the "update now" body.
		tamper func(t *testing.T, id string) map[string]any
		step   string
		reason func(string) bool
	}{{
		name:    "tampered binary",
		version: "1.2.0",
		tamper: func(t *testing.T, id string) map[string]any {
			var data []byte
			if err := db.QueryRowContext(t.Context(), `SELECT data FROM release_chunks WHERE release_id = $1 AND seq = 0`, id).Scan(&data); err != nil {
				t.Fatal(err)
			}
			data[len(data)-2] ^= 0xff // the size stays: only the hash can tell
			exec1(t, `UPDATE release_chunks SET data = $1 WHERE release_id = $2 AND seq = 0`, data, id)
			return map[string]any{"release_id": id}
		},
		step: protocol.UpdateFailed,
		reason: func(r string) bool {
			return strings.HasPrefix(r, "verify: SHA-256 ") && strings.Contains(r, "differs from the signed")
		},
	}, {
		name:    "statement altered after signing",
		version: "1.3.0",
		tamper: func(t *testing.T, id string) map[string]any {
			editStatement(t, id, func(s *protocol.SignedRelease) { s.Statement.Size++ })
			return map[string]any{"release_id": id}
		},
		step:   protocol.UpdateRefused,
		reason: func(r string) bool { return r == protocol.ErrReleaseBadSignature.Error() },
	}, {
		name:    "unsigned",
		version: "1.3.1",
		tamper: func(t *testing.T, id string) map[string]any {
			editStatement(t, id, func(s *protocol.SignedRelease) { s.Signature = nil })
			return map[string]any{"release_id": id}
		},
		step:   protocol.UpdateRefused,
		reason: func(r string) bool { return r == protocol.ErrReleaseUnsigned.Error() },
	}, {
		name:    "wrong architecture",
		version: "1.4.0",
		arch:    otherArch,
		tamper: func(t *testing.T, id string) map[string]any {
			// The statement still says otherArch; only the server's row lies.
			exec1(t, `UPDATE releases SET arch = $1 WHERE id = $2`, runtime.GOARCH, id)
			return map[string]any{"release_id": id}
		},
		step: protocol.UpdateRefused,
		reason: func(r string) bool {
			return r == fmt.Sprintf("release is for %s/%s, this agent runs on %s/%s", runtime.GOOS, otherArch, runtime.GOOS, runtime.GOARCH)
		},
	}, {
		name:    "downgrade without a rollback instruction",
		version: "1.0.0",
		tamper: func(t *testing.T, id string) map[string]any {
			// The server itself offers nothing older without the signed
			// instruction...
			var raw json.RawMessage
			if code := api.in(t).do("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{"release_id": id, "rollback": true}, &raw); code != 400 {
				t.Fatalf("rollback to 1.0.0 without an instruction = %d %s, want 400", code, raw)
			}
			var sum struct{ Offered int }
			api.in(t).mustDo("POST", "/api/v1/agents/"+agent.ID+"/update", map[string]any{"release_id": id}, &sum, 202)
			if sum.Offered != 0 {
				t.Fatalf("1.0.0 offered to an agent on 1.1.0 without rollback")
			}
			// ...so its database says the release is newer than it is.
			exec1(t, `UPDATE releases SET version = '1.9.0' WHERE id = $1`, id)
			return map[string]any{"release_id": id}
		},
		step: protocol.UpdateRefused,
		reason: func(r string) bool {
			return r == "release 1.0.0 is not newer than the running 1.1.0, and no signed rollback instruction allows it"
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := publish(t, tt.version, cmp.Or(tt.arch, runtime.GOARCH))
			offer(t, tt.tamper(t, id))
			reason := waitUpdateStep(t, api.in(t), agent.ID, tt.version, tt.step, 60*time.Second)
			t.Logf("%s: %s", tt.step, reason)
			if !tt.reason(reason) {
				t.Errorf("%s reason %q", tt.step, reason)
			}
			unharmed(t)
		})
	}
}

// startTray runs "binary tray" for the agent of config as a logged-in
// user's would, without a desktop: it cannot show its icon, but it talks
// to the agent. Its lock lives in a runtime directory of its own, so that
// a tray of another test does not stop it.
func startTray(t *testing.T, binary, config string) {
	t.Helper()
	dir := t.TempDir()
	log := &logBuffer{}
	cmd := exec.Command(binary, "tray", "--log", filepath.Join(dir, "tray.log"))
	cmd.Env = append(agentEnv(t, config), "XDG_RUNTIME_DIR="+dir, "DBUS_SESSION_BUS_ADDRESS=", "DISPLAY=", "WAYLAND_DISPLAY=")
	cmd.Stdout, cmd.Stderr = log, log
	startUntilCleanup(t, cmd, func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "tray.log"))
		return fmt.Sprintf("tray output:\n%s\ntray log:\n%s", log.String(), b)
	})
}
