package ipc

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerIdentity asks the kernel who connected (SO_PEERCRED): the
// credentials at connect time, which the client cannot forge.
func peerIdentity(c net.Conn) (Caller, error) {
	var cred *unix.Ucred
	err := sockoptPeer(c, func(fd int) (err error) {
		cred, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		return err
	})
	if err != nil {
		return Caller{}, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	return unixCaller(int(cred.Uid), int(cred.Pid)), nil
}

// serverOwner is the account of the process that serves the socket c is
// connected to: SO_PEERCRED on the client's end gives the credentials the
// server had when it called listen.
func serverOwner(c net.Conn) (Owner, int, error) {
	var cred *unix.Ucred
	err := sockoptPeer(c, func(fd int) (err error) {
		cred, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		return err
	})
	if err != nil {
		return Owner{}, 0, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	return Owner{UID: int(cred.Uid)}, int(cred.Pid), nil
}
