package ipc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// clientEnv makes the test binary a client of the endpoint it names (see
// TestMain), so a test can call the server as another user.
const clientEnv = "STEWARD_IPC_TEST_CLIENT"

func TestMain(m *testing.M) {
	if endpoint := os.Getenv(clientEnv); endpoint != "" {
		os.Exit(clientMain(endpoint))
	}
	os.Exit(m.Run())
}

// clientReport is what clientMain prints.
type clientReport struct {
	Status    echoReply `json:"status"`
	StatusErr string    `json:"status_err"`
	HealthErr string    `json:"health_err"`
	Forbidden bool      `json:"forbidden"` // errors.Is(health error, ErrForbidden)
}

// clientMain calls status and health and prints what happened as JSON.
func clientMain(endpoint string) int {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, endpoint, SystemOwner())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	var r clientReport
	if err := c.Call(ctx, MethodStatus, nil, &r.Status); err != nil {
		r.StatusErr = err.Error()
	}
	if err := c.Call(ctx, MethodHealth, nil, nil); err != nil {
		r.HealthErr, r.Forbidden = err.Error(), errors.Is(err, ErrForbidden)
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// TestOtherUserCannotCallHealth runs a client as a throw-away user made
// for the test: SO_PEERCRED names it, status-level calls work, health is
// refused. Root is needed to create the user.
func TestOtherUserCannotCallHealth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a throw-away user with useradd; run as root to test a non-root caller")
	}
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		t.Skip("no useradd on this machine")
	}
	name := "stwipc" + strings.ToLower(rand.Text()[:8])
	if out, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
		"--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// The user must reach the socket and run a copy of this test binary.
	endpoint := testEndpoint(t)
	if err := os.Chmod(filepath.Dir(filepath.Dir(endpoint)), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(filepath.Dir(endpoint)), "ipc.test")
	copyExecutable(t, bin)

	var healthRan atomic.Bool
	ts := startServerAt(t, endpoint, func(s *Server) {
		// status answers with the caller the server identified.
		s.Handle(MethodStatus, RoleUser, func(_ context.Context, c Caller, _ json.RawMessage) (any, error) {
			return echoReply{Caller: c}, nil
		})
		s.Handle(MethodHealth, RoleAdmin, func(context.Context, Caller, json.RawMessage) (any, error) {
			healthRan.Store(true)
			return HealthReply{PID: os.Getpid()}, nil
		})
	})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), clientEnv+"="+endpoint)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client as %s: %v\n%s", name, err, out)
	}
	var r clientReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if r.StatusErr != "" {
		t.Errorf("status as %s failed: %s", name, r.StatusErr)
	}
	if got := r.Status.Caller; got.UID != uid || got.User != name || got.Admin || got.PID == os.Getpid() || got.PID == 0 {
		t.Errorf("server saw caller %+v, want uid %d user %s, not admin, the client's pid", got, uid, name)
	}
	if !r.Forbidden {
		t.Errorf("health as %s got %q, want ErrForbidden", name, r.HealthErr)
	}
	if healthRan.Load() {
		t.Error("the health handler ran for a non-root caller")
	}
	// Root may.
	if err := callT(t, dialT(t, ts.Endpoint()), MethodHealth, nil, nil); err != nil {
		t.Errorf("health as root: %v", err)
	}
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
