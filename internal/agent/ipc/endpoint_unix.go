//go:build linux || darwin

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultEndpoint is the agent's socket. Its directory is owned by root
// and mode 0755; the socket is 0666: anyone may connect, what they may ask
// depends on who they are.
func DefaultEndpoint() string { return "/var/run/steward-agent/agent.sock" }

// unixListener holds the lock that makes this process the endpoint's only
// server until it closes.
type unixListener struct {
	net.Listener
	lock *os.File
}

func (l *unixListener) Close() error {
	err := l.Listener.Close() // removes the socket file
	l.lock.Close()            // releases the flock
	return err
}

// listen takes the endpoint: it prepares the directory, takes the lock
// beside the socket (held while serving, so two agents cannot both
// remove and recreate it), removes a socket left by a crashed agent, and
// refuses when another process answers on it.
func listen(endpoint string) (net.Listener, error) {
	if err := prepareDir(filepath.Dir(endpoint)); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(endpoint+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked)", ErrInUse, lock.Name())
		}
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if err := removeStale(endpoint); err != nil {
		lock.Close()
		return nil, err
	}
	l, err := net.Listen("unix", endpoint)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if err := os.Chmod(endpoint, 0o666); err != nil {
		l.Close()
		lock.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	return &unixListener{Listener: l, lock: lock}, nil
}

// prepareDir creates dir 0755 or checks the existing one: a directory (not
// a link) owned by this process's user. A directory another user owns
// could have its socket swapped under the agent: refuse it.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("socket directory %s is owned by uid %d, not %d: refusing to serve there", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm() != 0o755 {
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
	}
	return nil
}

// removeStale removes a socket nobody answers on, when it is this
// process's user's (the agent's own, left by a crash). Anything else at
// the path is left alone and refused: another account's socket in the
// agent's directory means something is wrong.
func removeStale(endpoint string) error {
	fi, err := os.Lstat(endpoint)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: refusing to remove it", endpoint)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not %d: refusing to replace it", endpoint, st.Uid, os.Geteuid())
	}
	if c, err := net.DialTimeout("unix", endpoint, time.Second); err == nil {
		c.Close()
		return ErrInUse
	}
	if err := os.Remove(endpoint); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

func dial(ctx context.Context, endpoint string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", endpoint)
}

// unixCaller names a peer from its credentials. Admin is root only.
func unixCaller(uid, pid int) Caller {
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil && u.Username != "" {
		name = u.Username
	}
	return Caller{User: name, UID: uid, PID: pid, Admin: uid == 0}
}

// sockoptPeer runs get on the connection's socket.
func sockoptPeer(c net.Conn, get func(fd int) error) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a unix socket: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var gerr error
	if err := raw.Control(func(fd uintptr) { gerr = get(int(fd)) }); err != nil {
		return err
	}
	return gerr
}
