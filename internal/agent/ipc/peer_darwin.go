package ipc

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerIdentity asks the kernel who connected (LOCAL_PEERCRED, what
// getpeereid uses, and LOCAL_PEERPID): the credentials at connect time,
// which the client cannot forge.
func peerIdentity(c net.Conn) (Caller, error) {
	var xu *unix.Xucred
	var pid int
	err := sockoptPeer(c, func(fd int) (err error) {
		if xu, err = unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err != nil {
			return err
		}
		// The pid is for logs only; an old kernel without it is fine.
		pid, _ = unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		return nil
	})
	if err != nil {
		return Caller{}, fmt.Errorf("LOCAL_PEERCRED: %w", err)
	}
	return unixCaller(int(xu.Uid), pid), nil
}

// serverOwner is the account of the process that serves the socket c is
// connected to (LOCAL_PEERCRED works from the client's end too).
func serverOwner(c net.Conn) (Owner, int, error) {
	var xu *unix.Xucred
	var pid int
	err := sockoptPeer(c, func(fd int) (err error) {
		if xu, err = unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err != nil {
			return err
		}
		pid, _ = unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		return nil
	})
	if err != nil {
		return Owner{}, 0, fmt.Errorf("LOCAL_PEERCRED: %w", err)
	}
	return Owner{UID: int(xu.Uid)}, pid, nil
}
