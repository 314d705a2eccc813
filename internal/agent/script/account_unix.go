//go:build unix

package script

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// account is the logged-in user a script runs as. nil is the agent's own
// account (root).
type account struct {
	uid, gid uint32
	groups   []uint32
	name     string
	home     string
}

// lookupAccount finds uid's name, home, group and groups.
func lookupAccount(uid uint32) (*account, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, fmt.Errorf("look up user %d: %w", uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("group of user %s: %w", u.Username, err)
	}
	a := &account{uid: uid, gid: uint32(gid), name: u.Username, home: u.HomeDir}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				a.groups = append(a.groups, uint32(g))
			}
		}
	}
	return a, nil
}

func (a *account) String() string {
	if a == nil {
		return "root"
	}
	return a.name
}

// other reports whether the script runs as another user than the agent.
func (a *account) other() bool { return a != nil && int(a.uid) != os.Geteuid() }

func (a *account) close() {}

// share hands the run's script and then its directory to the user.
func (a *account) share(dir, file string) error {
	if !a.other() {
		return nil
	}
	for _, p := range []string{file, dir} {
		if err := os.Lchown(p, int(a.uid), int(a.gid)); err != nil {
			return err
		}
	}
	return nil
}

// apply makes cmd run as the user.
func (a *account) apply(cmd *exec.Cmd) error {
	if a == nil {
		return nil
	}
	sysProcAttr(cmd).Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
	return nil
}

// environ is the agent's environment, with HOME, USER and LOGNAME the
// user's for a run as the user (and XDG_RUNTIME_DIR where the session
// has one, for a script that talks to the desktop).
func (a *account) environ() []string {
	env := os.Environ()
	if a == nil {
		return env
	}
	set := map[string]string{"HOME": a.home, "USER": a.name, "LOGNAME": a.name}
	if rt := fmt.Sprintf("/run/user/%d", a.uid); isDir(rt) {
		set["XDG_RUNTIME_DIR"] = rt
	}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// userRunsDir is where a run as another user gets its directory: the
// system's temporary directory, which every user can reach (the agent's
// own directories are root's alone).
func userRunsDir(string) string { return os.TempDir() }
